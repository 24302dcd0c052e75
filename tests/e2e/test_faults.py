"""Faults, end to end on the local engine, each with exact expected counts (issue #6)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from hubspoke.engine import BUCKET, LocalEngine
from stacks.settings import Settings

pytestmark = pytest.mark.e2e
RETRY = Settings().retry


def ids(n: int) -> list[str]:
    return [f"t{i:03d}" for i in range(n)]


def request(
    engine: LocalEngine, run_id: str, targets: list[str], params: dict[str, Any] | None = None, **extra
) -> dict[str, Any]:
    return engine.manifest_request(run_id, [{"id": t} for t in targets], params, **extra)


def test_permanent_failures_and_rate_limits_lose_nothing(engine):
    # GIVEN 200 targets: 10 % fail permanently, 20 % are rate-limited twice, 5 % hit a transient error once
    targets = ids(200)
    failing, limited, transient = targets[0:20], targets[20:60], targets[60:70]
    params = {
        "fail_ids": failing,
        "rate_limit_ids": limited,
        "rate_limit_times": 2,
        "transient_ids": transient,
        "transient_times": 1,
    }
    result = engine.run(request(engine, "faults-1", targets, params, max_concurrency=25))
    summary = result.summary
    # THEN succeeded + failed = total, nothing lost, the failed set is exactly the injected set
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (200, 180, 20, 0)
    assert {f["id"] for f in summary["failed_targets"]} == set(failing)
    rows = {r["target_id"]: r for r in engine.ledger("faults-1")}
    assert {rows[t]["attempts"] for t in limited} == {3}
    assert {rows[t]["attempts"] for t in transient} == {2}
    # AND no target used more attempts than its retry policy allows
    ceiling = max(RETRY.rate_limit.max_attempts, RETRY.transient.max_attempts, RETRY.lambda_service.max_attempts) + 1
    assert max(r["attempts"] for r in rows.values()) <= ceiling


def throttle(share_ids: set[str]):
    """A fault hook: Lambda throttles the first invocation of each spoke whose target is in share_ids."""
    throttled: set[str] = set()

    def hook(function: str, event: dict[str, Any]) -> None:
        target = event.get("target", {}).get("id")
        if target in share_ids and target not in throttled:
            throttled.add(target)
            raise ClientError(
                {
                    "Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {
                        "HTTPStatusCode": 429,
                        "RequestId": "local",
                        "HostId": "",
                        "HTTPHeaders": {},
                        "RetryAttempts": 0,
                    },
                },
                "Invoke",
            )

    hook.throttled = throttled  # type: ignore[attr-defined]
    return hook


def test_lambda_throttling_is_retried_and_everything_succeeds(stack, tmp_path):
    targets = ids(50)
    hook = throttle(set(targets[::4]))  # a quarter of the spokes
    with LocalEngine(stack, time_scale=0.01, log_path=tmp_path / "l.log", fault_hook=hook) as engine:
        result = engine.run(request(engine, "throttled", targets))
        rows = {r["target_id"]: r for r in engine.ledger("throttled")}
    assert len(hook.throttled) == 13
    assert result.summary is not None
    assert (result.status, result.summary["succeeded"], result.summary["failed"]) == ("SUCCEEDED", 50, 0)
    # The throttled invocation never ran the handler: the spoke's first run was Step Functions' retry 1.
    assert {rows[t]["attempts"] for t in hook.throttled} == {2}
    assert result.spoke_invocations == 50


def test_summarize_crashing_once_is_retried_with_one_report(stack, tmp_path):
    crashes: list[str] = []

    def crash_once(function: str, event: dict[str, Any]) -> None:
        if function.startswith("FunctionsSummarize") and not crashes:
            crashes.append(function)
            raise RuntimeError("simulated crash (out of memory)")

    with LocalEngine(stack, time_scale=0.01, log_path=tmp_path / "l.log", fault_hook=crash_once) as engine:
        result = engine.run(request(engine, "crashy", ids(30), {"fail_ids": ["t003"]}))
        reports = engine.objects("reports/")
        summarize = next(f for f in engine.runtime.functions if f.name.startswith("FunctionsSummarize"))
        invocations = summarize.stats.invocations
    assert crashes
    assert invocations == 2
    assert reports == ["reports/crashy.json"]
    assert result.summary is not None
    assert (result.summary["total"], result.summary["succeeded"], result.summary["failed"]) == (30, 29, 1)
    assert result.error == "RunFailed"


def test_hub_crash_after_partial_seeding_then_rerun_neither_duplicates_nor_loses(engine, monkeypatch):
    # GIVEN a hub that dies after writing the first batch of ledger rows
    dynamo = importlib.import_module("shared.dynamo")  # the module the handlers loaded, if they did
    original = dynamo._write
    calls: list[int] = []

    def dying_write(client, table, requests, *args, **kwargs):  # one BatchWriteItem batch of the seed
        calls.append(len(requests))
        if len(calls) > 1:
            raise RuntimeError("simulated crash while seeding")
        return original(client, table, requests, *args, **kwargs)

    monkeypatch.setattr(dynamo, "_write", dying_write)
    targets = ids(80)
    first = engine.run(request(engine, "rerun", targets), execution_name="rerun-attempt-1")
    assert (first.status, first.error) == ("FAILED", "RuntimeError")
    assert len(engine.ledger("rerun")) == 25  # one batch made it
    assert first.spoke_invocations == 0
    # WHEN the same run id is run again
    monkeypatch.setattr(dynamo, "_write", original)
    second = engine.run(request(engine, "rerun", targets), execution_name="rerun-attempt-2")
    # THEN one row per target, every target done
    rows = engine.ledger("rerun")
    assert sorted(r["target_id"] for r in rows) == targets
    assert (second.status, second.summary["total"], second.summary["succeeded"]) == ("SUCCEEDED", 80, 80)


def test_the_same_request_delivered_twice_runs_once(engine):
    # GIVEN a run request delivered, and delivered again after it finished
    req = request(engine, "twice", ids(20))
    first = engine.run(req)
    second = engine.run(req)
    # THEN the second delivery is the same execution: no spoke ran again, no row was written twice
    assert second.execution_arn == first.execution_arn
    assert (second.status, second.summary["succeeded"]) == (first.status, 20)
    assert (first.spoke_invocations, second.spoke_invocations) == (20, 0)
    assert len(engine.ledger("twice")) == 20


def test_a_delivery_while_the_run_is_going_joins_it(engine):
    import threading

    req = request(engine, "joined", ids(20), {"sleep_ms": 2000}, max_concurrency=2)
    results = []
    first = threading.Thread(target=lambda: results.append(engine.run(req)))
    first.start()
    second = engine.run(req)  # while the first is still running
    first.join()
    assert second.execution_arn == results[0].execution_arn
    assert engine.runtime.function(engine.spoke_function).stats.invocations == 20


def throttle_ledger_writes(engine: LocalEngine, operation: str, times: dict[str, int]) -> dict[str, int]:
    """Make the spokes' DynamoDB client answer `operation` on chosen targets' ledger rows with a throttle, N times
    each, as it surfaces after botocore's own retries. Returns how often each target was throttled."""
    client = importlib.import_module("shared.aws").client("dynamodb")  # the handlers' cached client
    thrown = dict.fromkeys(times, 0)

    def before_call(params: dict[str, Any], **_: object) -> tuple[object, dict[str, Any]] | None:
        body = params.get("body", b"")
        text = body.decode() if isinstance(body, bytes) else str(body)
        for target, n in times.items():
            if f'"target_id": {{"S": "{target}"}}' in text and thrown[target] < n:
                thrown[target] += 1
                error = {
                    "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Throughput exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "local"},
                }
                return SimpleNamespace(status_code=400, headers={}), error
        return None

    client.meta.events.register(f"before-call.dynamodb.{operation}", before_call)
    return thrown


def test_a_throttled_success_row_is_retried_and_the_target_ends_succeeded(engine):
    # GIVEN 10 targets; writing t003's success row is throttled twice (its work is done by then)
    thrown = throttle_ledger_writes(engine, "PutItem", {"t003": 2})
    result = engine.run(request(engine, "throttled-put", ids(10)))
    rows = {r["target_id"]: r for r in engine.ledger("throttled-put")}
    # THEN the throttle became a TransientError, retried: t003 succeeded on its third attempt, nothing failed
    assert thrown == {"t003": 2}
    assert (result.summary["succeeded"], result.summary["failed"]) == (10, 0)
    assert rows["t003"]["status"] == "succeeded"
    assert rows["t003"]["attempts"] == 3


def test_a_throttled_attempt_note_does_not_replace_the_attempts_own_error(engine):
    # GIVEN t005 is rate-limited once, and noting that failed attempt in the ledger is throttled
    thrown = throttle_ledger_writes(engine, "UpdateItem", {"t005": 1})
    result = engine.run(request(engine, "throttled-note", ids(10), {"rate_limit_ids": ["t005"]}))
    rows = {r["target_id"]: r for r in engine.ledger("throttled-note")}
    # THEN the RateLimitError was still retried (not replaced by the throttle): t005 succeeded on attempt 2
    assert thrown == {"t005": 1}
    assert (result.summary["succeeded"], result.summary["failed"]) == (10, 0)
    assert rows["t005"]["status"] == "succeeded"
    assert rows["t005"]["attempts"] == 2
    errors = {m.get("error") for m in result.emf if "SpokeAttemptFailed" in m}
    assert errors == {"RateLimitError"}


def test_a_failing_map_still_ends_in_a_summary_with_the_error(stack, tmp_path):
    # GIVEN 4 targets in 2 waves, and the second wave's manifest gone by the time its Map reads it
    deleted: list[str] = []

    def delete_second_wave(function: str, event: dict[str, Any]) -> None:
        if "target" in event and not deleted:
            key = f"runs/{event['run']['run_id']}/wave-0001.json"
            boto3.client("s3", region_name="us-east-1").delete_object(Bucket=BUCKET, Key=key)
            deleted.append(key)

    with LocalEngine(stack, time_scale=0.01, log_path=tmp_path / "l.log", fault_hook=delete_second_wave) as engine:
        result = engine.run(request(engine, "map-fails", ids(4), wave_size=2))
    # THEN the Map's failure is caught: Summarize ran and wrote the report, with the error in its notes
    assert deleted
    assert result.summary is not None
    assert result.summary["notes"]["map_error"]["Error"].startswith("States.")
    # AND the second wave's targets, never run, are counted lost, so the run fails on its outcome, not mid-way
    assert (result.summary["succeeded"], result.summary["lost"]) == (2, 2)
    assert (result.status, result.error) == ("FAILED", "RunFailed")
