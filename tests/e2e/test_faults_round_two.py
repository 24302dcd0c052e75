"""Faults not tried before, end to end on the local engine, each with exact expected counts (issue #16, item 4).

Faults are injected in the real components: the Lambdas' own DynamoDB client (botocore's before-call event),
moto's DynamoDB and S3 backends (what Step Functions' DynamoDB task and the Map's ItemReader call), and the
in-process Lambda runtime (a handler that crashes after doing its work).
"""

from __future__ import annotations

import importlib
import json
from collections import Counter
from typing import Any

import pytest
from moto.core.exceptions import ServiceException
from moto.dynamodb.exceptions import DynamodbException
from moto.dynamodb.models import DynamoDBBackend
from moto.s3.models import S3Backend

from hubspoke.engine import BUCKET, LocalEngine
from tests.e2e.test_faults import ids, request, throttle_ledger_writes

pytestmark = pytest.mark.e2e

THROTTLED = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"


def throttle_record_failure(monkeypatch: pytest.MonkeyPatch, times: int) -> Counter[str]:
    """moto's DynamoDB refuses RecordFailure's UpdateItem (the one that sets failed_run) `times` times per target
    with ProvisionedThroughputExceededException, as a throttled table answers Step Functions' DynamoDB task.
    Returns every RecordFailure call by target (throttled or not)."""
    calls: Counter[str] = Counter()
    original = DynamoDBBackend.update_item

    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], update_expression: str, *a, **kw):
        if "failed_run" in (update_expression or ""):
            target = key["target_id"]["S"]
            calls[target] += 1
            if calls[target] <= times:
                raise DynamodbException(THROTTLED, "The level of configured provisioned throughput was exceeded.")
        return original(self, table_name, key, update_expression, *a, **kw)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)
    return calls


def test_a_throttled_ledger_delays_success_and_failure_rows_and_loses_nothing(engine, monkeypatch):
    # GIVEN 30 targets, 6 failing permanently; every success row is throttled twice (the spoke's PutItem, after
    # botocore's own retries) and every failure row four times (RecordFailure's UpdateItem, a Step Functions task)
    targets = ids(30)
    failing = targets[::5]
    succeeding = [t for t in targets if t not in failing]
    thrown = throttle_ledger_writes(engine, "PutItem", dict.fromkeys(succeeding, 2))
    recorded = throttle_record_failure(monkeypatch, times=4)
    result = engine.run(request(engine, "ledger-throttled", targets, {"fail_ids": failing}, max_concurrency=10))
    rows = {r["target_id"]: r for r in engine.ledger("ledger-throttled")}
    summary = result.summary
    # THEN every target ends in its own terminal row: 24 succeeded on their third attempt (two TransientError
    # retries), 6 failed on their first, each failure row written on RecordFailure's fifth try (four retries)
    assert thrown == dict.fromkeys(succeeding, 2)
    assert recorded == dict.fromkeys(failing, 5)
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (30, 24, 6, 0)
    assert {rows[t]["status"] for t in succeeding} == {"succeeded"}
    assert {rows[t]["attempts"] for t in succeeding} == {3}
    assert {(rows[t]["status"], rows[t]["error_type"], rows[t]["attempts"]) for t in failing} == {
        ("failed", "TargetError", 1)
    }
    assert result.spoke_invocations == 24 * 3 + 6
    assert (result.status, result.error) == ("FAILED", "RunFailed")  # the 6 failures are over the 0 % threshold


def test_a_ledger_throttled_past_every_retry_counts_the_target_lost_never_succeeded(engine, monkeypatch):
    # GIVEN RecordFailure's write is throttled 6 times: one more than its Retry's 5 retries (1 s, x2: 31 s in all)
    recorded = throttle_record_failure(monkeypatch, times=6)
    result = engine.run(request(engine, "ledger-down", ids(5), {"fail_ids": ["t001"]}))
    rows = {r["target_id"]: r for r in engine.ledger("ledger-down")}
    # THEN the failure could not be recorded: the row stays pending, the run counts it lost and fails on it
    assert recorded == {"t001": 6}
    assert rows["t001"]["status"] == "pending"
    summary = result.summary
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (5, 4, 0, 1)
    assert (result.status, result.error) == ("FAILED", "RunFailed")


def test_a_success_row_throttled_past_every_retry_fails_the_target_naming_the_ledger(engine):
    # GIVEN t002's success row is refused on every attempt the TransientError Retry gives (1 + 3)
    thrown = throttle_ledger_writes(engine, "PutItem", {"t002": 10})
    result = engine.run(request(engine, "put-down", ids(5)))
    rows = {r["target_id"]: r for r in engine.ledger("put-down")}
    # THEN the target is failed (not lost, not succeeded) and the cause names the ledger write that was refused
    assert thrown == {"t002": 4}
    assert (rows["t002"]["status"], rows["t002"]["error_type"], rows["t002"]["attempts"]) == (
        "failed",
        "TransientError",
        4,
    )
    assert "ledger PutItem: ProvisionedThroughputExceededException" in rows["t002"]["cause"]
    summary = result.summary
    assert (summary["succeeded"], summary["failed"], summary["lost"]) == (4, 1, 0)


def fail_manifest_reads(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, times: int) -> list[str]:
    """moto's S3 answers the first `times` reads of a wave manifest (runs/<id>/wave-*.json) by the state machine
    (the Map's ItemReader; not the Lambdas' reads) with SlowDown, as S3 answers under load. Returns the keys it
    refused."""
    refused: list[str] = []
    original = S3Backend.get_object

    def get_object(self: S3Backend, bucket_name: str, key_name: str, *args: Any, **kwargs: Any):
        by_the_map = engine.runtime.current_function() is None
        if by_the_map and key_name.startswith("runs/") and "/wave-" in key_name and len(refused) < times:
            refused.append(key_name)
            error = ServiceException("SlowDown", "Please reduce your request rate.")
            raise error
        return original(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "get_object", get_object)
    return refused


def test_the_manifest_read_failing_once_is_retried_and_the_run_is_whole(engine, monkeypatch):
    # GIVEN 40 targets, and S3 refusing the Map's first read of the wave manifest
    refused = fail_manifest_reads(engine, monkeypatch, times=1)
    result = engine.run(request(engine, "manifest-once", ids(40)))
    # THEN the Map's Retry on States.ItemReaderFailed read it again: every target ran once, nothing lost
    assert refused == ["runs/manifest-once/wave-0000.json"]
    summary = result.summary
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (40, 40, 0, 0)
    assert "map_error" not in summary["notes"]
    assert result.spoke_invocations == 40
    assert (result.status, result.error) == ("SUCCEEDED", None)


def test_a_manifest_that_cannot_be_read_at_all_still_ends_in_a_report(engine, monkeypatch):
    # GIVEN S3 refusing every read of the manifest (more than the Map's Retry attempts)
    refused = fail_manifest_reads(engine, monkeypatch, times=100)
    result = engine.run(request(engine, "manifest-never", ids(10)))
    # THEN after 1 + 3 reads the Map's error is caught, Summarize reports all 10 lost, and the run fails on it
    assert len(refused) == 4
    summary = result.summary
    assert summary["notes"]["map_error"]["Error"] == "States.ItemReaderFailed"
    assert (summary["total"], summary["succeeded"], summary["lost"]) == (10, 0, 10)
    assert result.spoke_invocations == 0
    assert (result.status, result.error) == ("FAILED", "RunFailed")


def test_summarize_crashing_after_writing_its_report_writes_the_same_bytes_again(engine):
    # GIVEN Summarize dies (out of memory, say) right after it wrote the report, once
    fn = next(f for f in engine.runtime.functions if f.name.startswith("FunctionsSummarize"))
    real = engine.runtime._load(fn)
    first_reports: list[bytes] = []

    def crash_after_work(event: dict[str, Any], context: Any) -> Any:
        output = real(event, context)
        if not first_reports:
            first_reports.append(engine.s3.get_object(Bucket=BUCKET, Key="reports/crash-after.json")["Body"].read())
            raise MemoryError("simulated crash after the report was written")
        return output

    fn.handler = crash_after_work
    params = {"fail_ids": ["t004", "t017"], "transient_ids": ["t009"]}
    result = engine.run(request(engine, "crash-after", ids(25), params))
    final = engine.s3.get_object(Bucket=BUCKET, Key="reports/crash-after.json")["Body"].read()
    # THEN the Retry ran it again and the report is byte-identical (it has no timestamp: it is computed from the
    # ledger alone), one report, the run's outcome decided once
    assert fn.stats.invocations == 2
    assert final == first_reports[0]
    assert engine.objects("reports/") == ["reports/crash-after.json"]
    report = json.loads(final)
    assert (report["total"], report["succeeded"], report["failed"], report["lost"]) == (25, 23, 2, 0)
    assert [f["id"] for f in report["failed_targets"]] == ["t004", "t017"]
    assert (result.status, result.error) == ("FAILED", "RunFailed")


def test_the_hub_retried_after_seeding_half_its_rows_neither_duplicates_nor_loses(engine):
    # GIVEN 80 targets (4 BatchWriteItem batches of 25, 5 rows in the last); the third batch is throttled once,
    # after 50 rows were written: the hub fails with TransientError and Step Functions runs it again
    dynamodb = importlib.import_module("shared.aws").client("dynamodb")
    batches: list[int] = []

    def throttle_third_batch(params: dict[str, Any], **_: object) -> Any:
        body = json.loads(params["body"])
        batches.append(sum(len(v) for v in body["RequestItems"].values()))
        if len(batches) == 3:
            from types import SimpleNamespace

            error = {
                "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Throughput exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "local"},
            }
            return SimpleNamespace(status_code=400, headers={}), error
        return None

    dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", throttle_third_batch)
    targets = ids(80)
    result = engine.run(request(engine, "hub-half", targets))
    hub = engine.runtime.function(engine.function_named("hub."))
    rows = engine.ledger("hub-half")
    # THEN the hub ran twice, seeding 2 + 4 batches; one row per target, each target run once, all succeeded
    assert hub.stats.invocations == 2
    assert batches == [25, 25, 25, 25, 25, 25, 5]
    assert sorted(r["target_id"] for r in rows) == targets
    assert result.spoke_invocations == 80
    assert {r["status"] for r in rows} == {"succeeded"}
    assert {r["attempts"] for r in rows} == {1}
    summary = result.summary
    assert (summary["total"], summary["succeeded"], summary["lost"]) == (80, 80, 0)
    assert (result.status, result.error) == ("SUCCEEDED", None)


def test_a_spoke_returning_more_than_256_kib_fails_its_target_with_a_clear_cause(engine):
    # GIVEN 10 targets; t003's operation returns a 300,000-character result (Lambda allows 6 MB, a state 256 KiB)
    params = {"large_ids": ["t003"], "large_bytes": 300_000}
    result = engine.run(request(engine, "large-result", ids(10), params))
    rows = {r["target_id"]: r for r in engine.ledger("large-result")}
    # THEN t003 is failed, not lost, not silently succeeded; its cause says what was too large; the rest succeeded
    assert (rows["t003"]["status"], rows["t003"]["error_type"], rows["t003"]["attempts"]) == (
        "failed",
        "ResultTooLargeError",
        1,
    )
    assert "result is 300" in rows["t003"]["cause"]
    summary = result.summary
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (10, 9, 1, 0)
    assert result.spoke_invocations == 10
    assert (result.status, result.error) == ("FAILED", "RunFailed")
