"""ecs-run-task end to end on the local engine: four clusters of the engine's own account, each task ending as the
world says (adaptation `ecs-task-lifecycle`), through the synthesized state machine's Retry and Catch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.world import Task as Ending  # how the world says a task ends

pytestmark = pytest.mark.e2e
ACCOUNT, REGION = "123456789012", "us-east-1"


CLUSTERS = {
    "jobs-ok": Ending(exit_code=0, seconds=40),
    "jobs-exit3": Ending(exit_code=3, seconds=20),
    "jobs-full": Ending(starts=False, reason="RESOURCE:MEMORY"),
    # Longer than the wait (60 s): the first attempt runs out, a retry waits on the same task.
    "jobs-slow": Ending(exit_code=0, seconds=200),
}


def target(cluster: str) -> dict[str, Any]:
    return {"id": f"{ACCOUNT}/{REGION}/{cluster}", "cluster": cluster}


def test_run_task_on_four_clusters(engine: LocalEngine):
    # GIVEN four clusters, a task definition logging to CloudWatch, and how each cluster's task ends
    for name, ending in CLUSTERS.items():
        engine.ecs.create_cluster(clusterName=name)
        engine.expect_tasks(None, None, name, ending)
    engine.ecs.register_task_definition(
        family="nightly-report",
        containerDefinitions=[
            {
                "name": "report",
                "image": "registry/report:3",
                "memory": 256,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/jobs/report", "awslogs-stream-prefix": "nightly"},
                },
            }
        ],
    )
    request = {
        "run_id": "nightly-1",
        "operation": "ecs-run-task",
        "params": {
            "task_definition": "nightly-report",
            "container": "report",
            "command": ["report", "--since", "1d"],
            "wait_timeout_seconds": 60,
            "poll_seconds": 10,
        },
        "source": {"type": "static", "targets": [target(c) for c in CLUSTERS]},
    }
    # WHEN the run runs
    result = engine.run(request)
    # THEN two succeed, the exit-3 task fails the target with its exit code, the cluster without capacity fails
    # after the TransientError retries; the run fails (threshold 0)
    summary = result.summary
    assert summary is not None
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (4, 2, 2)
    assert (result.status, summary["outcome"]) == ("FAILED", "failed")
    failed = {f["id"]: f for f in summary["failed_targets"]}
    exit3 = failed[f"{ACCOUNT}/{REGION}/jobs-exit3"]
    assert exit3["error"] == "TargetError"
    assert "container report exit code 3" in exit3["cause"]
    full = failed[f"{ACCOUNT}/{REGION}/jobs-full"]
    assert full["error"] == "TransientError"
    assert "the task did not start on jobs-full: RESOURCE:MEMORY" in full["cause"]
    rows = {r["target_id"]: r for r in engine.ledger("nightly-1")}
    # 1 attempt + 3 TransientError retries, each a RunTask refused; nothing started there
    assert rows[f"{ACCOUNT}/{REGION}/jobs-full"]["attempts"] == 4
    assert engine.tasks.run_tasks(None, None, "jobs-full") == 4
    assert engine.ecs.list_tasks(cluster="jobs-full", desiredStatus="STOPPED")["taskArns"] == []
    # The exit-3 target is not retried: one task
    assert (rows[f"{ACCOUNT}/{REGION}/jobs-exit3"]["attempts"], engine.tasks.run_tasks(None, None, "jobs-exit3")) == (
        1,
        1,
    )
    # The slow task outlived the first attempt's wait; the retry found it by its startedBy and waited: one task
    slow = rows[f"{ACCOUNT}/{REGION}/jobs-slow"]
    assert slow["status"] == "succeeded"
    assert slow["attempts"] >= 2
    assert engine.tasks.run_tasks(None, None, "jobs-slow") == 1
    assert json.loads(slow["detail"])["resumed"] is True
    # The quick one: one attempt, its detail names the task, exit code, stop and log stream
    ok = rows[f"{ACCOUNT}/{REGION}/jobs-ok"]
    detail = json.loads(ok["detail"])
    (task_arn,) = engine.ecs.list_tasks(cluster="jobs-ok", desiredStatus="STOPPED")["taskArns"]
    assert (ok["attempts"], detail["task_arn"], detail["exit_codes"]) == (1, task_arn, {"report": 0})
    assert detail["logs"] == {
        "report": {"group": "/jobs/report", "stream": f"nightly/report/{task_arn.rsplit('/', 1)[-1]}"}
    }
    # The command override reached the task
    (task,) = engine.ecs.describe_tasks(cluster="jobs-ok", tasks=[task_arn])["tasks"]
    assert task["overrides"]["containerOverrides"] == [{"name": "report", "command": ["report", "--since", "1d"]}]
    # WHEN the same run id is delivered again THEN no task is started twice: each spoke that runs again finds
    # the task of its (run, target) by its startedBy
    engine.run(request, execution_name="nightly-1-again")
    assert [engine.tasks.run_tasks(None, None, c) for c in ("jobs-ok", "jobs-exit3", "jobs-slow")] == [1, 1, 1]
    assert [len(engine.ecs.list_tasks(cluster=c, desiredStatus="STOPPED")["taskArns"]) for c in CLUSTERS] == [
        1,
        1,
        0,
        1,
    ]
