"""Stopping a bad change early, as synthesized: the canary's verdict after wave 0, the failure counter in each
Map child, and the DynamoDB actions they and the functions need on the ledger: exactly these, nothing more."""

from __future__ import annotations

from typing import Any

from tests.iam import policy_documents, table_arn

LEDGER = table_arn("hubspoke-ledger")
DYNAMODB_RETRYABLE = [
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
]
# The counters item: partition "<run_id>#counters", sort key "counters" (a partition of its own, so a query of
# the run's rows never sees it).
COUNTERS_KEY = {"run_id": {"S.$": "States.Format('{}#counters', $.run.run_id)"}, "target_id": {"S": "counters"}}


def test_more_waves_goes_to_the_canary_verdict_after_wave_0_only_when_the_run_has_a_canary(states):
    canary_rule = states["MoreWaves"]["Choices"][0]
    assert canary_rule == {
        "And": [
            {"Variable": "$.canary.enabled", "BooleanEquals": True},
            {"Variable": "$.progress.wave", "NumericEquals": 1},
        ],
        "Next": "ReadCanaryFailures",
    }


def test_the_canary_verdict_reads_the_counter_once_and_stops_or_pauses(states):
    read = states["ReadCanaryFailures"]
    assert read["Resource"] == "arn:aws:states:::dynamodb:getItem"  # a DynamoDB task, no Lambda
    assert read["Parameters"]["Key"] == COUNTERS_KEY
    assert read["Parameters"]["ConsistentRead"] is True  # every failure of the canary counted before the read
    assert read["ResultSelector"] == {"failures.$": "States.StringToJson($.Item.failures.N)"}
    assert read["ResultPath"] == "$.canary_result"
    assert read["TimeoutSeconds"] == 30
    assert read["Retry"] == [
        {"ErrorEquals": DYNAMODB_RETRYABLE, "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2}
    ]
    # A verdict that cannot be read is not a pass: the run stops, the error in the notes.
    assert read["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.notes.canary_error", "Next": "StopAfterCanary"}
    ]
    verdict = states[read["Next"]]
    assert verdict["Choices"] == [
        {
            "Variable": "$.canary_result.failures",
            "NumericGreaterThanPath": "$.canary.allowed_failures",
            "Next": "StopAfterCanary",
        }
    ]
    pause = states[verdict["Default"]]
    assert (pause["Type"], pause["SecondsPath"], pause["Next"]) == ("Wait", "$.canary.pause_seconds", "SelectWave")
    stop = states["StopAfterCanary"]
    assert (stop["Type"], stop["Result"], stop["ResultPath"], stop["Next"]) == (
        "Pass",
        "canary",
        "$.notes.stopped_by",
        "Summarize",
    )


def test_each_recorded_failure_is_counted_and_a_count_never_fails_the_child(states):
    record = states["RecordFailure"]
    # The failure row's input goes on (CountFailure needs $.run); the child still ends with {}.
    assert record["ResultPath"] is None
    count = states[record["Next"]]
    assert count["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    params = count["Parameters"]
    assert params["Key"] == COUNTERS_KEY
    assert params["UpdateExpression"] == "ADD failures :one"
    assert params["ExpressionAttributeValues"] == {":one": {"N": "1"}}
    # Only a counters item the hub seeded (a run with a canary or a breaker) is added to.
    assert params["ConditionExpression"] == "attribute_exists(run_id)"
    assert count["Retry"] == [
        {"ErrorEquals": DYNAMODB_RETRYABLE, "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2}
    ]
    (catch,) = count["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    not_counted = states[catch["Next"]]
    assert (not_counted["Type"], not_counted["Result"], not_counted.get("End")) == ("Pass", {}, True)
    assert (count.get("End"), count["ResultSelector"]) == (True, {})


def _ledger_actions(template: dict[str, Any], role_prefix: str) -> set[str]:
    actions: set[str] = set()
    for doc in policy_documents(template):
        if doc.kind != "identity" or not any(r.startswith(role_prefix) for r in doc.roles):
            continue
        raw = doc.document["Statement"]
        for statement in raw if isinstance(raw, list) else [raw]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            granted = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(str(r).startswith(LEDGER) for r in resources):
                actions.update(a for a in granted if a.startswith("dynamodb:"))
    return actions


def test_ledger_actions_are_exactly_the_ones_each_role_needs(template):
    """The state machine: RecordFailure and CountFailure (UpdateItem), ReadCanaryFailures (GetItem). The spoke:
    its row (PutItem, UpdateItem) and the breaker's one read (GetItem). Summarize: the rows (Query) and the
    targets after a failed canary recorded skipped (BatchWriteItem). The hub: seeding rows and counters
    (BatchWriteItem), a rerun's rows (Query). Each on the ledger table itself, nothing on '*'."""
    assert _ledger_actions(template, "WorkflowStateMachineRole") == {"dynamodb:UpdateItem", "dynamodb:GetItem"}
    assert _ledger_actions(template, "FunctionsSpokeRole") == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
    }
    assert _ledger_actions(template, "FunctionsSummarizeRole") == {"dynamodb:Query", "dynamodb:BatchWriteItem"}
    assert _ledger_actions(template, "FunctionsHubRole") == {"dynamodb:BatchWriteItem", "dynamodb:Query"}
    # Adaptive concurrency: the gate reads the run's counters item and records each wave's concurrency in it.
    assert _ledger_actions(template, "FunctionsGateRole") == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
