"""The circuit breaker in the spoke handler on moto: one read of the run's counters item on the first contact
with a target, a skipped row with the reason when the breaker is open, the target never touched."""

from __future__ import annotations

from hub.handler import handler as hub
from spoke.handler import handler as spoke

COUNTERS = {"run_id": {"S": "run-1#counters"}, "target_id": {"S": "counters"}}


def seed(context, *ids, breaker, params=None):
    request = {
        "operation": "noop",
        "params": params or {},
        "source": {"type": "static", "targets": [{"id": i} for i in ids]},
        "circuit_breaker": breaker,
    }
    return hub({"request": request, "execution_name": "run-1"}, context)


def add_failures(aws, count: int) -> None:
    """What the state machine's CountFailure does after each RecordFailure."""
    for _ in range(count):
        aws.dynamodb.update_item(
            TableName="ledger-test",
            Key=COUNTERS,
            UpdateExpression="ADD failures :one",
            ConditionExpression="attribute_exists(run_id)",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )


def test_the_hub_seeds_the_counters_outside_the_runs_rows(aws, context):
    seed(context, "a", "b", breaker={"failures": 2})
    item = aws.dynamodb.get_item(TableName="ledger-test", Key=COUNTERS)["Item"]
    assert (item["failures"], item["succeeded"]) == ({"N": "0"}, {"N": "0"})
    assert set(aws.rows("run-1")) == {"a", "b"}  # the run's rows are its targets only


def test_an_open_breaker_skips_a_new_target_without_touching_it(aws, context):
    out = seed(context, "a", "b", "c", breaker={"failures": 2}, params={"sleep_ms": 5})
    add_failures(aws, 1)
    event = {"run": out["run"], "target": {"id": "a"}, "retry_count": 0, "rate_limit_waits": 0}
    assert spoke(event, context)["status"] == "succeeded"  # 1 failure of 2: closed
    add_failures(aws, 1)
    skipped = spoke({**event, "target": {"id": "b"}}, context)
    assert (skipped["status"], skipped["attempts"], skipped["detail"]) == (
        "skipped",
        0,
        {"reason": "circuit open after 2 failures"},
    )
    row = aws.rows("run-1")["b"]
    assert (row.status, row.attempts, row.detail) == ("skipped", 0, {"reason": "circuit open after 2 failures"})
    # A target already contacted (a retry, or again after a rate-limit wait) is finished, not skipped.
    assert spoke({**event, "target": {"id": "c"}, "retry_count": 1}, context)["status"] == "succeeded"
    assert spoke({**event, "target": {"id": "c"}, "rate_limit_waits": 1}, context)["status"] == "succeeded"


def test_a_percentage_breaker_counts_successes_and_waits_for_its_minimum(aws, context):
    out = seed(context, "a", "b", "c", "d", breaker={"percent": 50, "min_targets": 3})
    event = {"run": out["run"], "target": {"id": "a"}, "retry_count": 0}
    add_failures(aws, 2)
    # 2 failures of 2 finished: 100 %, but fewer than 3 finished, so still closed
    assert spoke(event, context)["status"] == "succeeded"
    item = aws.dynamodb.get_item(TableName="ledger-test", Key=COUNTERS)["Item"]
    assert item["succeeded"] == {"N": "1"}
    # 2 of 3 finished failed: 67 % >= 50 %
    assert spoke({**event, "target": {"id": "b"}}, context)["status"] == "skipped"
