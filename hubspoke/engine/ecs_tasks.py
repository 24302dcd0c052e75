"""Engine adaptation `ecs-task-lifecycle`: one-off ECS tasks end as the world says, on the simulated clock.

moto's RunTask starts a task with one container (the task definition's first) whose exit code is 0 from the
start, walks it to STOPPED after four DescribeTasks calls whatever time has passed, and needs a container
instance unless the launch type is Fargate. Here each cluster has an outcome (`expect`): a task that starts
runs for `seconds` of simulated time, then DescribeTasks (and ListTasks) see it STOPPED, stop code
EssentialContainerExited, with every container of its task definition and the essential ones' exit code; a
cluster whose tasks do not start answers RunTask with `failures` and starts nothing, as ECS does. RunTask calls
are counted per cluster, so a test can prove a retried spoke started one task.
"""

from __future__ import annotations

import inspect
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

from hubspoke.engine.provision import REGION

# ECS's own words for a task whose essential container exited.
STOP_CODE = "EssentialContainerExited"
STOPPED_REASON = "Essential container in task exited"
_FARGATE_PROVIDERS = {"FARGATE", "FARGATE_SPOT"}


class TaskEnding(Protocol):
    """How a task on a cluster ends (hubspoke.world.Task has these fields)."""

    starts: bool
    reason: str
    exit_code: int
    seconds: float


@dataclass(frozen=True)
class TaskOutcome:
    starts: bool = True
    reason: str = "RESOURCE:MEMORY"  # RunTask's failure reason when the task does not start
    exit_code: int = 0
    seconds: float = 30.0


DEFAULT_OUTCOME = TaskOutcome()
ClusterKey = tuple[str, str, str]  # (account, region, cluster name)


@dataclass
class _Started:
    task: Any  # moto's Task
    started_at: float  # simulated seconds
    outcome: TaskOutcome
    essential: frozenset[str]


class TaskLifecycle:
    """Outcomes by cluster, the tasks started under them, and RunTask calls per cluster."""

    def __init__(self, now: Callable[[], float], default_account: str = "123456789012") -> None:
        self.now = now  # simulated seconds
        self.default_account = default_account
        self._lock = threading.Lock()
        self._outcomes: dict[ClusterKey, TaskOutcome] = {}
        self._started: dict[str, _Started] = {}
        self.run_task_calls: Counter[ClusterKey] = Counter()

    def key(self, account: str | None, region: str | None, cluster: str) -> ClusterKey:
        """A cluster's key; None means the engine's own account or region, a cluster ARN its name."""
        return (account or self.default_account, region or REGION, cluster.rsplit("/", 1)[-1])

    def expect(self, account: str | None, region: str | None, cluster: str, task: TaskEnding) -> None:
        """Tasks started on this cluster from now on end as `task` says."""
        outcome = TaskOutcome(task.starts, task.reason, task.exit_code, task.seconds)
        with self._lock:
            self._outcomes[self.key(account, region, cluster)] = outcome

    def outcome(self, key: ClusterKey) -> TaskOutcome:
        with self._lock:
            return self._outcomes.get(key, DEFAULT_OUTCOME)

    def run_tasks(self, account: str | None, region: str | None, cluster: str) -> int:
        """RunTask calls made on this cluster (started or refused)."""
        with self._lock:
            return self.run_task_calls[self.key(account, region, cluster)]

    def count(self, key: ClusterKey) -> None:
        with self._lock:
            self.run_task_calls[key] += 1

    def started(self, task: Any, outcome: TaskOutcome, definition: Any) -> None:
        """Take over a task moto created: every container of its definition, running, no exit code yet."""
        from moto.ecs import models

        # moto's own container model (typed as an abstract CloudFormation model, hence Any).
        new_container: Any = models.Container
        containers = []
        for spec in definition.container_definitions:
            container = new_container(definition)
            container.name, container.image = spec.get("name"), spec.get("image")
            container.command = spec.get("command")
            container.last_status, container.exitCode = "RUNNING", None
            containers.append(container)
        task.containers = containers
        task._transitions = []  # no ManagedState walk: the status is ours (RUNNING until the outcome's time)
        task.status = "RUNNING"
        essential = frozenset(str(s.get("name")) for s in definition.container_definitions if s.get("essential", True))
        with self._lock:
            self._started[task.task_arn] = _Started(task, self.now(), outcome, essential)

    def refresh(self, task_arns: list[str] | None = None) -> None:
        """Stop each task (all, or those named) whose simulated running time has passed its outcome's seconds."""
        now = self.now()
        with self._lock:
            records = (
                list(self._started.values())
                if task_arns is None
                else [self._started[a] for a in task_arns if a in self._started]
            )
        for record in records:
            task = record.task
            if task.status == "STOPPED" or now - record.started_at < record.outcome.seconds:
                continue
            for container in task.containers:
                container.last_status = "STOPPED"
                container.exitCode = record.outcome.exit_code if container.name in record.essential else 0
            task.status, task.desired_status = "STOPPED", "STOPPED"
            task.stop_code, task.stopped_reason = STOP_CODE, STOPPED_REASON


def install(stack: ExitStack, lifecycle: TaskLifecycle) -> TaskLifecycle:
    """Patch moto's ECS RunTask, DescribeTasks and ListTasks for the engine's lifetime."""
    from moto.core.responses import ActionResult
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    original_run = EC2ContainerServiceResponse.run_task
    original_describe = EC2ContainerServiceBackend.describe_tasks
    original_list = EC2ContainerServiceBackend.list_tasks
    original_backend_run = EC2ContainerServiceBackend.run_task
    signature = inspect.signature(original_backend_run)

    def run_task(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))  # ClusterNotFoundException as ECS
        key = (self.current_account, self.region, cluster.name)
        lifecycle.count(key)
        outcome = lifecycle.outcome(key)
        if not outcome.starts:
            return ActionResult({"tasks": [], "failures": [{"arn": cluster.arn, "reason": outcome.reason}]})
        return original_run(self)

    def backend_run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = dict(bound.arguments)
        launch_type, strategy = given["launch_type"], given["capacity_provider_strategy"]
        cluster = self._get_cluster(given["cluster_str"])
        provider = (strategy or cluster.default_capacity_provider_strategy or [{}])[0].get("capacityProvider")
        placed_on_instances = launch_type != "FARGATE" and provider not in _FARGATE_PROVIDERS
        if placed_on_instances and not self.container_instances.get(cluster.name):
            # A world cluster has no container instances: its capacity is the world's to say (`starts`), so the
            # task is placed as moto places Fargate tasks, keeping the launch type and provider asked for.
            tasks = original_backend_run(**{**given, "launch_type": "FARGATE", "capacity_provider_strategy": None})
            for task in tasks:
                task.launch_type = launch_type or ("" if provider else "EC2")
                task.capacity_provider_name = provider
        else:
            tasks = original_backend_run(**given)
        key = (self.account_id, self.region_name, cluster.name)
        definition = self.describe_task_definition(given["task_definition_str"])
        for task in tasks:
            lifecycle.started(task, lifecycle.outcome(key), definition)
        return tasks

    def describe_tasks(self: Any, cluster_str: str, tasks: list[str]) -> Any:
        found = original_describe(self, cluster_str, tasks)
        lifecycle.refresh([t.task_arn for t in found])
        return found

    def list_tasks(self: Any, *args: Any, **kwargs: Any) -> Any:
        lifecycle.refresh()  # a task past its time is listed as STOPPED, described or not
        return original_list(self, *args, **kwargs)

    for owner, name, value in (
        (EC2ContainerServiceResponse, "run_task", run_task),
        (EC2ContainerServiceBackend, "run_task", backend_run_task),
        (EC2ContainerServiceBackend, "describe_tasks", describe_tasks),
        (EC2ContainerServiceBackend, "list_tasks", list_tasks),
    ):
        original = getattr(owner, name)
        setattr(owner, name, value)
        stack.callback(setattr, owner, name, original)
    return lifecycle
