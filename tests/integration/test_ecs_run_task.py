"""ecs-run-task through the hub and the spoke handler on moto, with tasks ending as the engine's world says.

The engine's `ecs-task-lifecycle` adaptation gives moto's tasks their outcome; its clock here is a simulated one
that the spoke's own sleeps (shared.clock.sleep) advance, so nothing sleeps for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from hub.handler import handler as hub
from hubspoke.engine import ecs_tasks
from hubspoke.world import Task as Ending  # how the world says a task ends
from hubspoke.world import in_account
from shared.errors import InvalidRunRequest, TargetError, TransientError
from spoke.handler import handler as spoke
from spoke.operations import ecs_run_task

CLUSTER = "batch"
FAMILY = "migrate"


@dataclass
class Fleet:
    ecs: Any
    lifecycle: ecs_tasks.TaskLifecycle
    clock: list[float]  # simulated now, advanced by the spoke's sleeps
    slept: list[float]

    def tasks(self, status: str) -> list[str]:
        return list(self.ecs.list_tasks(cluster=CLUSTER, desiredStatus=status)["taskArns"])


@pytest.fixture
def fleet(aws, monkeypatch) -> Iterator[Fleet]:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr("shared.clock.sleep", sleep)
    with ExitStack() as stack:
        lifecycle = ecs_tasks.install(stack, ecs_tasks.TaskLifecycle(now=lambda: now[0]))
        ecs = boto3.client("ecs", region_name="us-east-1")
        ecs.create_cluster(clusterName=CLUSTER)
        ecs.register_task_definition(
            family=FAMILY,
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "registry/migrate:7",
                    "memory": 256,
                    "essential": True,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {"awslogs-group": "/jobs/migrate", "awslogs-stream-prefix": "run"},
                    },
                },
                {"name": "metrics", "image": "registry/agent:1", "memory": 64, "essential": False},
            ],
        )
        yield Fleet(ecs, lifecycle, now, slept)


def seed(context: Any, params: dict[str, Any], targets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    request = {
        "operation": "ecs-run-task",
        "params": {"task_definition": FAMILY, "launch_type": "FARGATE", **params},
        "source": {
            "type": "static",
            "targets": targets or [{"id": "123456789012/us-east-1/batch", "cluster": CLUSTER}],
        },
    }
    out: dict[str, Any] = hub({"request": request, "execution_name": "run-7"}, context)
    return out


def attempt(out: dict[str, Any], context: Any, retry_count: int = 0, target: dict[str, Any] | None = None) -> Any:
    target = target or {"id": "123456789012/us-east-1/batch", "cluster": CLUSTER}
    return spoke({"run": out["run"], "target": target, "retry_count": retry_count}, context)


def test_exit_0_succeeds_with_the_task_its_exit_codes_and_log_stream(aws, fleet, context):
    # GIVEN a cluster whose tasks exit 0 after 40 s, polled every 10 s
    fleet.lifecycle.expect(None, None, CLUSTER, Ending(exit_code=0, seconds=40))
    out = seed(context, {"poll_seconds": 10, "wait_timeout_seconds": 120})
    # WHEN the spoke runs
    result = attempt(out, context)
    # THEN it succeeded after waiting 40 s; the ledger detail names the task, exit codes, stop and log stream
    assert result["status"] == "succeeded"
    assert fleet.slept == [10, 10, 10, 10]
    (task_arn,) = fleet.tasks("STOPPED")
    detail = aws.rows("run-7")["123456789012/us-east-1/batch"].detail
    task_id = task_arn.rsplit("/", 1)[-1]
    assert detail["task_arn"] == task_arn
    assert detail["exit_codes"] == {"app": 0, "metrics": 0}
    assert (detail["stop_code"], detail["stopped_reason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert detail["logs"] == {"app": {"group": "/jobs/migrate", "stream": f"run/app/{task_id}"}}
    assert detail["resumed"] is False
    # The task carries the (run, target) token and tags naming both
    described = fleet.ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn], include=["TAGS"])["tasks"][0]
    assert described["startedBy"] == ecs_run_task.started_by("run-7", "123456789012/us-east-1/batch")
    assert {t["key"]: t["value"] for t in described["tags"]} == {
        "hubspoke:run": "run-7",
        "hubspoke:target": "123456789012/us-east-1/batch",
    }


def test_exit_3_fails_the_target_naming_the_container_and_exit_code(aws, fleet, context):
    fleet.lifecycle.expect(None, None, CLUSTER, Ending(exit_code=3, seconds=20))
    out = seed(context, {"poll_seconds": 10})
    with pytest.raises(TargetError, match=r"container app exit code 3 \(EssentialContainerExited"):
        attempt(out, context)


def test_a_task_that_does_not_start_is_transient_and_starts_nothing(aws, fleet, context):
    fleet.lifecycle.expect(None, None, CLUSTER, Ending(starts=False, reason="RESOURCE:CPU"))
    out = seed(context, {})
    with pytest.raises(TransientError, match="the task did not start on batch: RESOURCE:CPU"):
        attempt(out, context)
    assert fleet.tasks("RUNNING") + fleet.tasks("STOPPED") == []
    assert fleet.lifecycle.run_tasks(None, None, CLUSTER) == 1


def test_a_retry_after_the_wait_ran_out_waits_on_the_same_task(aws, fleet, context):
    # GIVEN a task that runs 100 s and a wait of 60 s
    fleet.lifecycle.expect(None, None, CLUSTER, Ending(exit_code=0, seconds=100))
    out = seed(context, {"poll_seconds": 10, "wait_timeout_seconds": 60})
    # WHEN the first attempt runs out of wait
    with pytest.raises(TransientError, match="still RUNNING after 60 s"):
        attempt(out, context)
    # THEN the retry finds the task by its token and waits for it: one RunTask, one task, succeeded
    result = attempt(out, context, retry_count=1)
    assert result["status"] == "succeeded"
    assert fleet.lifecycle.run_tasks(None, None, CLUSTER) == 1
    assert len(fleet.tasks("STOPPED")) == 1
    assert result["detail"]["resumed"] is True
    assert sum(fleet.slept) == 100


def test_another_run_on_the_same_cluster_starts_its_own_task(aws, fleet, context):
    out = seed(context, {"poll_seconds": 10})
    attempt(out, context)
    request = {
        "operation": "ecs-run-task",
        "params": {"task_definition": FAMILY, "launch_type": "FARGATE", "poll_seconds": 10},
        "source": {"type": "static", "targets": [{"id": "123456789012/us-east-1/batch", "cluster": CLUSTER}]},
    }
    other = hub({"request": request, "execution_name": "run-8"}, context)
    attempt(other, context)
    assert fleet.lifecycle.run_tasks(None, None, CLUSTER) == 2


def test_a_target_without_a_cluster_fails_naming_the_field(aws, fleet, context):
    out = seed(context, {}, targets=[{"id": "web"}])
    with pytest.raises(TargetError, match="no 'cluster' \\(or 'cluster_arn'\\) attribute"):
        attempt(out, context, target={"id": "web"})


def test_a_missing_cluster_fails_the_target(aws, fleet, context):
    target = {"id": "gone", "cluster": "gone"}
    out = seed(context, {}, targets=[target])
    with pytest.raises(TargetError, match="ClusterNotFoundException"):
        attempt(out, context, target=target)


def test_the_hub_refuses_a_wait_longer_than_the_spoke_timeout(aws, context):
    # GIVEN the deployment's spoke timeout of 300 s (tests/envs.py): 270 s of wait at most
    with pytest.raises(InvalidRunRequest, match=r"params.wait_timeout_seconds: a wait of 280 s .* at most 270 s"):
        seed(context, {"wait_timeout_seconds": 280})


def test_a_plan_costs_each_spoke_the_whole_wait(aws, context):
    # GIVEN a dry run of two clusters with a wait of 120 s
    request = {
        "run_id": "p",
        "dry_run": True,
        "operation": "ecs-run-task",
        "params": {"task_definition": FAMILY, "wait_timeout_seconds": 120},
        "source": {"type": "static", "targets": [{"id": "a", "cluster": "a"}, {"id": "b", "cluster": "b"}]},
    }
    arn = "arn:aws:states:us-east-1:123456789012:execution:HubSpoke:p"
    out = hub({"request": request, "execution_id": arn}, context)
    # THEN the plan assumes each spoke waits the whole 120 s (an upper bound)
    assert out["outcome"] == "planned"
    assert out["plan"]["cost"]["spoke_seconds"] == 120


def test_a_target_in_another_account_runs_its_task_there(aws, fleet, context):
    # GIVEN a cluster of the same name in another account and region, whose tasks exit 0 after 20 s
    other = in_account(fleet.ecs, "210987654321", "eu-west-1")
    other.create_cluster(clusterName=CLUSTER)
    other.register_task_definition(
        family=FAMILY, containerDefinitions=[{"name": "app", "image": "registry/migrate:7", "memory": 256}]
    )
    fleet.lifecycle.expect("210987654321", "eu-west-1", CLUSTER, Ending(exit_code=0, seconds=20))
    target = {
        "id": "210987654321/eu-west-1/batch",
        "account": "210987654321",
        "region": "eu-west-1",
        "cluster": CLUSTER,
    }
    out = seed(context, {"poll_seconds": 10}, targets=[target])
    # WHEN the spoke runs (under the account's HubSpoke role)
    result = attempt(out, context, target=target)
    # THEN the task ran in that account and region, and none in the deployment's own
    assert result["status"] == "succeeded"
    assert result["detail"]["task_arn"].startswith("arn:aws:ecs:eu-west-1:210987654321:task/")
    assert fleet.lifecycle.run_tasks("210987654321", "eu-west-1", CLUSTER) == 1
    assert fleet.lifecycle.run_tasks(None, None, CLUSTER) == 0
    assert fleet.tasks("STOPPED") == []
