"""`ecs-run-task`: run a one-off task on the target's cluster, wait for it to stop, succeed on exit code 0.

Idempotent per (run, target): the task is started with a `startedBy` token derived from the run id and the
target id, and a retry first looks for a task with that token (ListTasks, RUNNING and STOPPED), so it waits on
the task an earlier attempt started instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared import clock
from shared.errors import TargetError, TransientError, aws_call_error
from shared.models import OperationResult, SpokeInput

if TYPE_CHECKING:
    from shared.config import HubEnv
    from shared.operations import OperationContext

NAME = "ecs-run-task"
# Room in the Spoke task's timeout besides the wait: ListTasks, RunTask, DescribeTaskDefinition, the last poll,
# the ledger write, and AssumeRole for a target in another account.
RUN_MARGIN_SECONDS = 30
LONGEST_SPOKE_SECONDS = 890  # the longest Spoke task timeout (stacks/settings.py)
DEFAULT_WAIT_SECONDS = 240
TOKEN_PREFIX = "hubspoke-"  # noqa: S105 - a startedBy prefix, not a secret
# Tag values allow letters, digits, spaces and _ . : / = + - @ (at most 256 characters).
_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]")
_TARGET_ERRORS = {
    "ClusterNotFoundException": "the cluster does not exist",
    "AccessDeniedException": "HubSpoke may not run tasks in this cluster (its role's ecs:RunTask grant)",
    "ClientException": "ECS refused the request",
    "InvalidParameterException": "ECS refused the parameters",
    "PlatformUnknownException": "unknown platform version",
    "PlatformTaskDefinitionIncompatibilityException": "the task definition does not fit the platform",
    "UnsupportedFeatureException": "the region does not support this",
    "BlockedException": "the account is blocked",
}


class ContainerOverride(BaseModel):
    """What to change in one container of the task definition for this task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    command: list[str] | None = Field(default=None, min_length=1)
    environment: dict[str, str] = Field(default_factory=dict)


class CapacityProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_provider: str = Field(min_length=1, max_length=255)
    weight: int = Field(default=1, ge=0, le=1000)
    base: int = Field(default=0, ge=0, le=100000)


class NetworkConfiguration(BaseModel):
    """awsvpc networking (required by Fargate and by task definitions in awsvpc mode)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subnets: list[str] = Field(min_length=1, max_length=16)
    security_groups: list[str] = Field(default_factory=list, max_length=5)
    assign_public_ip: bool = False


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task_definition: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}(:[1-9][0-9]{0,9})?$")  # family or family:revision
    container: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,255}$")  # whose `command` this is
    command: list[str] | None = Field(default=None, min_length=1)
    container_overrides: list[ContainerOverride] = Field(default_factory=list, max_length=10)
    launch_type: Literal["EC2", "FARGATE", "EXTERNAL"] | None = None
    capacity_provider_strategy: list[CapacityProvider] | None = Field(default=None, min_length=1, max_length=20)
    network_configuration: NetworkConfiguration | None = None
    # The spoke cannot know its task's timeout, so the default fits the default one (300 s); check() holds the
    # wait to the deployment's spoke_timeout_seconds before the run starts.
    wait_timeout_seconds: int = Field(
        default=DEFAULT_WAIT_SECONDS, ge=10, le=LONGEST_SPOKE_SECONDS - RUN_MARGIN_SECONDS
    )
    poll_seconds: int = Field(default=6, ge=1, le=300)

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.launch_type is not None and self.capacity_provider_strategy is not None:
            raise ValueError("give launch_type or capacity_provider_strategy, not both")
        if (self.command is None) != (self.container is None):
            raise ValueError("command and container go together: the command runs in the named container")
        names = [o.name for o in self.container_overrides] + ([self.container] if self.container else [])
        if len(names) != len(set(names)):
            raise ValueError("each container is named once (in container_overrides or as container)")
        return self


def max_wait_seconds(spoke_timeout_seconds: int) -> int:
    """The longest wait for the task that fits in the Spoke task's timeout."""
    return spoke_timeout_seconds - RUN_MARGIN_SECONDS


def spoke_seconds(params: Params, cfg: HubEnv) -> float:
    """A plan's assumption: the whole wait (an upper bound: a task that stops earlier ends its spoke earlier)."""
    return float(params.wait_timeout_seconds)


def check(params: Params, cfg: HubEnv) -> list[str]:
    """The wait must end inside the Spoke task's timeout, or the target fails States.Timeout mid-wait."""
    limit = max_wait_seconds(cfg.spoke_timeout_seconds)
    if params.wait_timeout_seconds <= limit:
        return []
    said = "" if "wait_timeout_seconds" in params.model_fields_set else f" (the default, {DEFAULT_WAIT_SECONDS} s)"
    return [
        f"params.wait_timeout_seconds{said}: a wait of {params.wait_timeout_seconds} s does not fit in the Spoke "
        f"task's timeout (spoke_timeout_seconds {cfg.spoke_timeout_seconds} s, of which {RUN_MARGIN_SECONDS} s for "
        f"starting the task): at most {limit} s"
    ]


def started_by(run_id: str, target_id: str) -> str:
    """The task's startedBy: the same for every attempt of one (run, target), 49 characters (ECS allows 128)."""
    digest = hashlib.sha256(f"{run_id}\n{target_id}".encode()).hexdigest()[:40]
    return TOKEN_PREFIX + digest


def _tag_value(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value)[:256]


def _ecs_error(err: ClientError, what: str) -> Exception:
    return aws_call_error(err, what, "ECS", _TARGET_ERRORS)


def _call(what: str, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as err:
        raise _ecs_error(err, what) from None
    except BotoCoreError as err:
        raise TransientError(f"{what}: {type(err).__name__}") from None


def _overrides(params: Params) -> dict[str, Any]:
    containers: list[dict[str, Any]] = []
    for override in params.container_overrides:
        one: dict[str, Any] = {"name": override.name}
        if override.command is not None:
            one["command"] = list(override.command)
        if override.environment:
            one["environment"] = [{"name": k, "value": v} for k, v in sorted(override.environment.items())]
        containers.append(one)
    if params.container is not None and params.command is not None:
        containers.append({"name": params.container, "command": list(params.command)})
    return {"containerOverrides": containers} if containers else {}


def _run_kwargs(params: Params, cluster: str, token: str, run_id: str, target_id: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "cluster": cluster,
        "taskDefinition": params.task_definition,
        "count": 1,
        "startedBy": token,
        "tags": [
            {"key": "hubspoke:run", "value": _tag_value(run_id)},
            {"key": "hubspoke:target", "value": _tag_value(target_id)},
        ],
    }
    overrides = _overrides(params)
    if overrides:
        kwargs["overrides"] = overrides
    if params.launch_type is not None:
        kwargs["launchType"] = params.launch_type
    if params.capacity_provider_strategy is not None:
        kwargs["capacityProviderStrategy"] = [
            {"capacityProvider": c.capacity_provider, "weight": c.weight, "base": c.base}
            for c in params.capacity_provider_strategy
        ]
    if params.network_configuration is not None:
        net = params.network_configuration
        kwargs["networkConfiguration"] = {
            "awsvpcConfiguration": {
                "subnets": list(net.subnets),
                "securityGroups": list(net.security_groups),
                "assignPublicIp": "ENABLED" if net.assign_public_ip else "DISABLED",
            }
        }
    return kwargs


def _earlier_task(ecs: Any, cluster: str, token: str) -> str | None:
    """The task an earlier attempt of this (run, target) started, if any (ListTasks defaults to RUNNING only)."""
    for status in ("RUNNING", "STOPPED"):
        listed = _call(
            "looking for an earlier attempt's task",
            ecs.list_tasks,
            cluster=cluster,
            startedBy=token,
            desiredStatus=status,
        )
        arns = listed.get("taskArns", [])
        if arns:
            return str(sorted(arns)[0])
    return None


def _start(ecs: Any, kwargs: dict[str, Any]) -> str:
    cluster = kwargs["cluster"]
    response = _call(f"running {kwargs['taskDefinition']} on {cluster}", ecs.run_task, **kwargs)
    tasks = response.get("tasks", [])
    if tasks:
        return str(tasks[0]["taskArn"])
    reasons = "; ".join(f"{f.get('reason', '?')} ({f.get('arn', cluster)})" for f in response.get("failures", []))
    # Capacity or placement: likely to pass, so the state machine retries the target later.
    raise TransientError(f"the task did not start on {cluster}: {reasons or 'no task and no failure given'}")


def _wait(ecs: Any, cluster: str, task_arn: str, timeout_seconds: int, poll_seconds: int) -> dict[str, Any]:
    """Poll DescribeTasks until the task is STOPPED; a wait that runs out is retried (on the same task)."""
    waited = 0
    while True:
        described = _call(f"watching task {task_arn}", ecs.describe_tasks, cluster=cluster, tasks=[task_arn])
        tasks = described.get("tasks", [])
        if not tasks:
            reasons = ", ".join(str(f.get("reason", "")) for f in described.get("failures", []))
            raise TargetError(f"task {task_arn} is no longer known to ECS ({reasons or 'MISSING'})")
        task: dict[str, Any] = tasks[0]
        if task.get("lastStatus") == "STOPPED":
            return task
        if waited >= timeout_seconds:
            raise TransientError(
                f"task {task_arn} on {cluster} still {task.get('lastStatus', 'running')} after {timeout_seconds} s "
                "(a retry waits on the same task)"
            )
        clock.sleep(poll_seconds)
        waited += poll_seconds


def _log_streams(definition: dict[str, Any], task_arn: str) -> dict[str, dict[str, str]]:
    """Each container's CloudWatch Logs stream, where its task definition logs with awslogs and a prefix."""
    task_id = task_arn.rsplit("/", 1)[-1]
    streams = {}
    for container in definition.get("containerDefinitions", []):
        logging = container.get("logConfiguration") or {}
        options = logging.get("options") or {}
        prefix = options.get("awslogs-stream-prefix")
        if logging.get("logDriver") == "awslogs" and prefix:
            streams[container["name"]] = {
                "group": options.get("awslogs-group", ""),
                "stream": f"{prefix}/{container['name']}/{task_id}",
            }
    return streams


def _outcome(ecs: Any, cluster: str, task: dict[str, Any]) -> dict[str, Any]:
    task_arn = str(task["taskArn"])
    stop_code, reason = str(task.get("stopCode", "")), str(task.get("stoppedReason", ""))
    if stop_code == "TaskFailedToStart":
        raise TransientError(f"task {task_arn} on {cluster} failed to start: {reason}")
    definition = _call(
        f"reading {task.get('taskDefinitionArn')}",
        ecs.describe_task_definition,
        taskDefinition=task["taskDefinitionArn"],
    )["taskDefinition"]
    essential = {c["name"]: c.get("essential", True) for c in definition.get("containerDefinitions", [])}
    exit_codes = {str(c["name"]): c.get("exitCode") for c in task.get("containers", [])}
    detail = {
        "cluster": cluster,
        "task_arn": task_arn,
        "task_definition": str(task.get("taskDefinitionArn", "")),
        "exit_codes": exit_codes,
        "stop_code": stop_code,
        "stopped_reason": reason,
        "logs": _log_streams(definition, task_arn),
    }
    failed = [(name, code) for name, code in sorted(exit_codes.items()) if essential.get(name, True) and code != 0]
    if failed:
        said = ", ".join(
            f"container {name} exit code {code}" if code is not None else f"container {name} has no exit code"
            for name, code in failed
        )
        raise TargetError(f"task {task_arn} on {cluster}: {said} ({stop_code}: {reason})")
    return detail


def run(params: Params, item: SpokeInput, ctx: OperationContext) -> OperationResult:
    target = item.target.model_dump()
    cluster = str(target.get("cluster") or target.get("cluster_arn") or "")
    if not cluster:
        raise TargetError("the target has no 'cluster' (or 'cluster_arn') attribute (use the ecs-clusters source)")
    ecs = ctx.target.client("ecs")
    token = started_by(item.run.run_id, item.target.id)
    task_arn = _earlier_task(ecs, cluster, token)
    resumed = task_arn is not None
    if task_arn is None:
        task_arn = _start(ecs, _run_kwargs(params, cluster, token, item.run.run_id, item.target.id))
    stopped = _wait(ecs, cluster, task_arn, params.wait_timeout_seconds, params.poll_seconds)
    detail = _outcome(ecs, cluster, stopped)
    return OperationResult(status="succeeded", detail={**detail, "started_by": token, "resumed": resumed})
