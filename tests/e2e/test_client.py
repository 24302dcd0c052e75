"""The operator client (hubspoke/client) against the embedded engine: the same boto3 calls it makes on AWS."""

from __future__ import annotations

import json
import threading
from typing import Any

from hubspoke.client.runs import RunClient
from hubspoke.engine import Progress


def _targets(n: int) -> list[dict[str, Any]]:
    return [{"id": f"t{i:05d}"} for i in range(n)]


def _request(targets: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    return {"operation": "noop", "params": params, "source": {"type": "static", "targets": targets}}


def _no_sleep(_: float) -> None:
    """Polls in a test do not wait: the engine runs in its own threads while the client polls."""


def test_run_with_three_failures_then_rerun_failed_runs_exactly_those(engine) -> None:
    client = RunClient(engine.deployment())
    fail = ["t00003", "t00500", "t00999"]
    run_id = client.start({**_request(_targets(1000), fail_ids=fail), "run_id": "first"})
    first = client.follow(run_id, poll_seconds=0.05)
    assert first["outcome"] == "failed"
    assert sorted(f["id"] for f in first["failed_targets"]) == fail

    rerun = client.start(
        {
            "run_id": "again",
            "operation": "noop",
            "params": {},
            "source": {"type": "run", "run_id": "first", "status": ["failed", "lost"]},
        }
    )
    second = client.follow(rerun, poll_seconds=0.05)
    assert second["outcome"] == "succeeded"
    assert second["total"] == 3
    assert sorted(r["target_id"] for r in engine.ledger("again")) == fail


def test_a_target_list_too_large_for_the_input_goes_through_s3(engine) -> None:
    client = RunClient(engine.deployment())
    # 50,000 ids, the last a duplicate of the first: the hub reads them all from S3 and refuses the duplicate
    # (a refusal writes nothing, so the test does not seed 50,000 ledger rows).
    targets = [*_targets(49_999), {"id": "t00000"}]
    run_id = client.start({**_request(targets), "run_id": "big"})
    assert engine.objects("inputs/big/") == ["inputs/big/targets.json"]
    execution = client.describe(run_id)
    assert json.loads(execution["input"])["source"] == {
        "type": "s3-manifest",
        "bucket": engine.deployment().bucket,
        "key": "inputs/big/targets.json",
    }
    summary = client.follow(run_id, poll_seconds=0.05)
    assert summary["status"] == "FAILED"
    assert "s3://hubspoke-local/inputs/big/targets.json: duplicate target ids: 't00000'" in summary["cause"]


def test_report_equals_the_summary_follow_returned(engine) -> None:
    client = RunClient(engine.deployment())
    run_id = client.start({**_request(_targets(20), fail_ids=["t00001"]), "run_id": "r1"})
    followed = client.follow(run_id, poll_seconds=0.05)
    assert client.summary(run_id) == followed
    assert followed["failed"] == 1
    assert followed["succeeded"] == 19


def test_progress_counts_during_and_after_a_run(engine) -> None:
    client = RunClient(engine.deployment())
    seen: list[Progress] = []
    run_id = client.start({**_request(_targets(50), fail_ids=["t00002", "t00004"]), "run_id": "p1"})
    client.follow(run_id, on_progress=seen.append, poll_seconds=0.05)
    last = seen[-1]
    assert (last.status, last.total, last.succeeded, last.failed, last.pending) == ("SUCCEEDED", 50, 48, 2, 0) or (
        last.status == "FAILED" and (last.total, last.succeeded, last.failed, last.pending) == (50, 48, 2, 0)
    )


class QueryReads:
    """The items each DynamoDB Query read (its ScannedCount: what DynamoDB charges a read for), from the client's
    own botocore hook, as CallCounter counts its calls."""

    def __init__(self, client: RunClient) -> None:
        self.scanned: list[int] = []
        client.dynamodb.meta.events.register("after-call.dynamodb.Query", self)

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        self.scanned.append(int(parsed["ScannedCount"]))


def test_a_poll_makes_four_calls_and_reads_only_the_failed_rows(engine) -> None:
    # GIVEN a finished run of 200 targets, 3 of them failed
    fail = ["t00010", "t00100", "t00190"]
    run_id = RunClient(engine.deployment()).start({**_request(_targets(200), fail_ids=fail), "run_id": "cost"})
    RunClient(engine.deployment()).follow(run_id, poll_seconds=0.05)
    client = RunClient(engine.deployment())
    reads = QueryReads(client)

    # WHEN a new client polls: the first poll also reads the hub's count from the execution history, once
    first = client.progress(run_id)
    assert reads.scanned == [3]  # the 3 failed index entries, not the 200 rows of the run
    assert client.counter.calls == [
        "DescribeExecution",
        "ListMapRuns",
        "DescribeMapRun",
        "GetExecutionHistory",
        "Query",
    ]

    # THEN every later poll makes exactly 4 calls, and its one Query reads the 3 failed entries only
    client.counter.calls.clear()
    reads.scanned.clear()
    again = client.progress(run_id)
    assert reads.scanned == [3]
    assert client.counter.calls == ["DescribeExecution", "ListMapRuns", "DescribeMapRun", "Query"]
    for progress in (first, again):
        assert (progress.total, progress.succeeded, progress.failed, progress.pending) == (200, 197, 3, 0)


def test_progress_mid_run_counts_every_target_of_the_run(engine) -> None:
    """The total is the hub's count from the start of the Map, not the items started so far."""
    fn = engine.runtime.function(engine.spoke_function)
    real = engine.runtime._load(fn)
    two_running, release = threading.Event(), threading.Event()
    arrived = 0
    lock = threading.Lock()

    def held(event: Any, context: Any) -> Any:
        nonlocal arrived
        with lock:
            arrived += 1
            if arrived == 2:
                two_running.set()
        release.wait(120)
        return real(event, context)

    fn.handler = held
    client = RunClient(engine.deployment())
    try:
        # GIVEN 20 targets, 2 at a time, the first 2 held inside the spoke
        run_id = client.start({**_request(_targets(20)), "run_id": "mid", "max_concurrency": 2})
        assert two_running.wait(120)
        # WHEN polled mid-run THEN all 20 are counted, none done yet
        progress = client.progress(run_id)
        assert (progress.status, progress.total, progress.done, progress.pending) == ("RUNNING", 20, 0, 20)
    finally:
        release.set()
    last: list[Progress] = []
    client.follow(run_id, on_progress=last.append, poll_seconds=0.05)
    assert (last[-1].total, last[-1].succeeded, last[-1].failed, last[-1].pending) == (20, 20, 0, 0)
