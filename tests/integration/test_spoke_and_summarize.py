"""Spoke and summarize handlers on moto: ledger rows, attempts, report and metrics."""

from __future__ import annotations

import json

import pytest

from hub.handler import handler as hub
from shared.errors import RateLimitError, TargetError
from spoke.handler import handler as spoke
from summarize.handler import handler as summarize

from .conftest import BUCKET


def seed(context, *ids, params=None):
    request = {
        "operation": "noop",
        "params": params or {},
        "source": {"type": "static", "targets": [{"id": i} for i in ids]},
    }
    return hub({"request": request, "execution_name": "run-1"}, context)


def spoke_event(hub_out, tid, retry_count=0):
    return {"run": hub_out["run"], "target": {"id": tid}, "retry_count": retry_count}


def test_spoke_success_writes_succeeded_row_with_attempts(aws, context):
    out = seed(context, "a")
    result = spoke(spoke_event(out, "a", retry_count=2), context)
    assert (result["status"], result["attempts"]) == ("succeeded", 3)
    row = aws.rows("run-1")["a"]
    assert (row.status, row.attempts, row.detail) == ("succeeded", 3, {"slept_ms": 0})


def test_spoke_failure_raises_the_named_error_and_counts_the_attempt(aws, context):
    out = seed(context, "a", "b", params={"fail_ids": ["a"], "rate_limit_ids": ["b"]})
    with pytest.raises(TargetError):
        spoke(spoke_event(out, "a"), context)
    with pytest.raises(RateLimitError):
        spoke(spoke_event(out, "b"), context)
    rows = aws.rows("run-1")
    # The final failed row is RecordFailure's job; the spoke only notes the attempt.
    assert (rows["a"].status, rows["a"].attempts) == ("pending", 1)


def test_summarize_reports_counts_writes_report_and_emits_metrics(aws, context, capsys):
    out = seed(context, "a", "b", "c")
    spoke(spoke_event(out, "a"), context)
    spoke(spoke_event(out, "b"), context)
    aws.dynamodb.update_item(
        TableName="ledger-test",
        Key={"run_id": {"S": "run-1"}, "target_id": {"S": "c"}},
        UpdateExpression="SET #s = :f, error_type = :e, cause = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":f": {"S": "failed"},
            ":e": {"S": "TargetError"},
            ":c": {"S": json.dumps({"errorMessage": "boom"})},
        },
    )
    capsys.readouterr()
    summary = summarize({"run": out["run"], "failure_threshold_percent": 50}, context)
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (3, 2, 1, 0)
    assert summary["outcome"] == "succeeded"  # 33 % <= 50 %
    assert summary["failed_targets"] == [{"id": "c", "error": "TargetError", "cause": "boom", "attempts": 1}]
    report = json.loads(aws.s3.get_object(Bucket=BUCKET, Key="reports/run-1.json")["Body"].read())
    assert report["failed"] == 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {m["Name"]: doc[m["Name"]] for doc in emf for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert (values["RunTargets"], values["SpokesFailed"], values["SpokesSucceeded"]) == ([3.0], [1.0], [2.0])
    assert values["SpokeFailures"] == [1.0]
    assert {doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] for doc in emf} == {"HubSpoke"}
    assert all(doc["service"] == "hubspoke" for doc in emf)


def test_summarize_counts_pending_rows_as_lost(aws, context):
    out = seed(context, "a", "b")
    spoke(spoke_event(out, "a"), context)
    summary = summarize({"run": out["run"], "failure_threshold_percent": 100}, context)
    assert (summary["lost"], summary["outcome"]) == (1, "failed")


def test_summarize_pages_through_a_large_ledger(aws, context):
    ids = [f"t{i:04d}" for i in range(2500)]
    out = seed(context, *ids)
    summary = summarize({"run": out["run"], "failure_threshold_percent": 0}, context)
    assert (summary["total"], summary["lost"]) == (2500, 2500)
