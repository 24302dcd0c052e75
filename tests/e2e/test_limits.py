"""Step Functions quotas the local engine enforces as AWS does (adaptations `aws-data-limit`, `aws-history-limit`,
`float-tolerated-failure`), and the workflow staying inside them (issue items 3 and 7)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from hubspoke.engine import BUCKET, ROLE_ARN, LocalEngine

pytestmark = pytest.mark.e2e
STATE_LIMIT = 262_144  # bytes (256 KiB): a state's input/output and a Map's gathered results
HISTORY_LIMIT = 25_000  # events in one execution's history


def run_machine(engine: LocalEngine, name: str, definition: dict[str, Any], payload: Any) -> dict[str, Any]:
    """Create a state machine from `definition`, run it once, return describe_execution's answer."""
    arn = engine.sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    execution = engine.sfn.start_execution(stateMachineArn=arn, name=f"{name}-1", input=json.dumps(payload))
    while (desc := engine.sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        time.sleep(0.05)
    return dict(desc)


def padded_children_map(result_writer: bool = False) -> dict[str, Any]:
    """A Distributed Map whose every child outputs ~1.3 KB (300 numbers), with a Catch of States.ALL."""
    spokes: dict[str, Any] = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Pad",
            "States": {
                "Pad": {"Type": "Pass", "Parameters": {"pad.$": "States.ArrayRange(1000, 1299, 1)"}, "End": True}
            },
        },
        "ResultPath": None,  # does not stop the gathering (aws-cdk issue 24799)
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        "End": True,
    }
    if result_writer:
        spokes["ResultWriter"] = {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": BUCKET, "Prefix": "results"},
        }
    return {"StartAt": "Spokes", "States": {"Spokes": spokes, "Caught": {"Type": "Pass", "End": True}}}


def test_a_map_gathering_over_256_kib_fails_the_execution_and_no_catch_helps(engine):
    # GIVEN 250 children that each output ~1.3 KB: ~330 KB gathered, past 256 KiB
    desc = run_machine(engine, "gathered-big", padded_children_map(), {"items": list(range(250))})
    # THEN the execution fails with States.DataLimitExceeded; the Map's Catch of States.ALL did not catch it
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.DataLimitExceeded"
    assert "Spokes" in desc["cause"]
    assert "250 children" in desc["cause"]
    (gathered,) = engine.limits.gathered
    assert gathered.children == 250
    assert gathered.bytes >= STATE_LIMIT
    assert not gathered.result_writer


def test_a_map_gathering_under_256_kib_succeeds(engine):
    desc = run_machine(engine, "gathered-small", padded_children_map(), {"items": list(range(150))})
    assert desc["status"] == "SUCCEEDED"
    (gathered,) = engine.limits.gathered
    assert gathered.children == 150
    assert gathered.bytes < STATE_LIMIT


def test_a_map_with_a_result_writer_is_not_limited_by_what_it_gathers(engine):
    desc = run_machine(engine, "gathered-written", padded_children_map(True), {"items": list(range(250))})
    assert desc["status"] == "SUCCEEDED"
    (gathered,) = engine.limits.gathered
    assert gathered.bytes >= STATE_LIMIT
    assert gathered.result_writer


def test_a_state_input_over_256_kib_fails_the_execution(engine):
    # GIVEN an execution input of 300,000 bytes (the first state's input), of which the state keeps only a number
    definition = {"StartAt": "First", "States": {"First": {"Type": "Pass", "InputPath": "$.n", "End": True}}}
    desc = run_machine(engine, "big-input", definition, {"s": "x" * 299_990, "n": 1})
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.DataLimitExceeded"
    assert "'First'" in desc["cause"]


def test_a_state_output_over_256_kib_fails_the_execution(engine):
    # GIVEN a state doubling a 150 KB input (moto's own check of state outputs)
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True},
        },
    }
    desc = run_machine(engine, "big-output", definition, {"s": "x" * 150_000})
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.DataLimitExceeded"


def loop_machine(iterations: int) -> dict[str, Any]:
    """Pass + Choice per iteration: 4 history events each, plus ExecutionStarted, Succeed (2), ExecutionSucceeded."""
    return {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, 1)", "stop.$": "$.stop"},
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThanPath": "$.stop", "Next": "Count"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def test_an_execution_that_would_pass_25000_history_events_fails_at_event_25000(engine):
    # GIVEN a loop of 6,250 iterations: 4 x 6,250 + 4 = 25,004 events if nothing stopped it
    desc = run_machine(engine, "long-loop", loop_machine(6_250), {"n": 0, "stop": 6_250})
    history = engine.history(desc["executionArn"])
    # THEN it fails with the 25,000th event, ExecutionFailed, as AWS ends it
    assert desc["status"] == "FAILED"
    assert "25000" in desc["cause"]
    assert "history" in desc["cause"]
    assert len(history) == HISTORY_LIMIT
    assert history[-1]["type"] == "ExecutionFailed"


def test_an_execution_whose_25000th_event_is_its_success_succeeds(engine):
    # 4 x 6,249 + 4 = 25,000 events, the last one ExecutionSucceeded
    desc = run_machine(engine, "long-loop-ok", loop_machine(6_249), {"n": 0, "stop": 6_249})
    history = engine.history(desc["executionArn"])
    assert desc["status"] == "SUCCEEDED"
    assert len(history) == HISTORY_LIMIT
    assert history[-1]["type"] == "ExecutionSucceeded"
