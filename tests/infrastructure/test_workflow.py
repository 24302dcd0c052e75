"""The state machine as synthesized: the Distributed Map, retries with the seed's numbers, catches, timeouts."""

from __future__ import annotations

from .conftest import only

LAMBDA_SERVICE = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def test_flow_is_hub_map_summarize_outcome(definition, states):
    assert definition["StartAt"] == "Hub"
    # A duplicate delivery (another execution runs the run id) ends at once: tests/infrastructure/test_run_claims.py
    assert states["Hub"]["Next"] == "DuplicateDelivery"
    assert states["DuplicateDelivery"]["Default"] == "AnyTargets"
    choice = states["AnyTargets"]
    assert choice["Choices"] == [{"Variable": "$.count", "NumericGreaterThan": 0, "Next": "SelectWave"}]
    assert choice["Default"] == "Summarize"  # zero targets: straight to the summary
    assert choice["Choices"][0]["Next"] == "SelectWave"
    assert states["SelectWave"]["Next"] == "NeedsBudgetCheck"
    assert states["NeedsBudgetCheck"]["Choices"] == [
        {"Variable": "$.budget_check", "BooleanEquals": True, "Next": "CheckBudget"}
    ]
    assert states["NeedsBudgetCheck"]["Default"] == "Spokes"
    assert states["Spokes"]["Next"] == "AdvanceWave"
    assert states["AdvanceWave"]["Next"] == "MoreWaves"
    more = states["MoreWaves"]
    assert more["Choices"] == [
        {"Variable": "$.progress.wave", "NumericLessThanPath": "$.waves.count", "Next": "WavePause"}
    ]
    assert more["Default"] == "Summarize"
    assert states["WavePause"] == {"Type": "Wait", "SecondsPath": "$.waves.pause_seconds", "Next": "SelectWave"}
    assert states["Summarize"]["Next"] == "RunOutcome"
    outcome = states["RunOutcome"]
    assert outcome["Choices"][0]["Variable"] == "$.summary.outcome"
    assert outcome["Choices"][0]["StringEquals"] == "succeeded"
    assert states[outcome["Choices"][0]["Next"]]["Type"] == "Succeed"
    assert states[outcome["Default"]]["Type"] == "Fail"


def test_distributed_map_reads_the_hubs_manifest(states):
    spokes = states["Spokes"]
    assert spokes["Type"] == "Map"
    assert spokes["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    reader = spokes["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSON"}
    assert reader["Parameters"]["Key.$"] == "$.wave.key"  # the current wave's manifest
    assert spokes["ItemSelector"] == {"run.$": "$.run", "target.$": "$$.Map.Item.Value", "rate_limit": {"waits": 0}}
    assert spokes["MaxConcurrencyPath"] == "$.wave.max_concurrency"  # the run's, or what the gate allows
    assert "MaxConcurrency" not in spokes  # exclusive with the path; the hub returns the effective value
    assert spokes["ResultPath"] is None  # results live in the ledger, never in the state


def test_spoke_retry_entries_have_the_seed_numbers(states):
    spoke = states["Spoke"]
    assert spoke["Retry"] == [
        {"ErrorEquals": LAMBDA_SERVICE, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2},
        {
            "ErrorEquals": ["RateLimitError"],
            "IntervalSeconds": 1,
            "MaxAttempts": 5,
            "BackoffRate": 2,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL",
        },
        {"ErrorEquals": ["TransientError"], "IntervalSeconds": 30, "MaxAttempts": 3, "BackoffRate": 2},
    ]
    assert spoke["TimeoutSeconds"] == 300
    assert spoke["Parameters"]["Payload"] == {
        "run.$": "$.run",
        "target.$": "$.target",
        "retry_count.$": "$$.State.RetryCount",
    }


def test_every_spoke_failure_is_caught_and_recorded(states):
    # Every failure ends in RecordFailure: directly, or after the rate-limit wait path gives up.
    last = states["Spoke"]["Catch"][-1]
    assert last == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}
    record = states["RecordFailure"]
    assert record["Resource"] == "arn:aws:states:::dynamodb:updateItem"  # a DynamoDB task, no Lambda
    params = record["Parameters"]
    assert params["Key"] == {"run_id": {"S.$": "$.run.run_id"}, "target_id": {"S.$": "$.target.id"}}
    assert "NOT (#s IN (:succeeded, :unchanged, :skipped))" in params["ConditionExpression"]
    assert params["ExpressionAttributeValues"][":failed"] == {"S": "failed"}
    assert params["ExpressionAttributeValues"][":error"] == {"S.$": "$.error.Error"}
    catches = {tuple(c["ErrorEquals"]): states[c["Next"]]["Type"] for c in record["Catch"]}
    assert catches == {("DynamoDB.ConditionalCheckFailedException",): "Pass", ("States.ALL",): "Pass"}


def test_every_task_has_a_timeout(states):
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert set(tasks) == {"Hub", "CheckBudget", "Spoke", "RecordFailure", "Summarize"}
    for name, task in tasks.items():
        assert isinstance(task.get("TimeoutSeconds"), int), name


def test_hub_and_summarize_retry_lambda_service_errors(states):
    for name in ("Hub", "Summarize"):
        assert states[name]["Retry"][0] == {
            "ErrorEquals": LAMBDA_SERVICE,
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
        }
    assert states["Summarize"]["Retry"][1]["ErrorEquals"] == ["States.ALL"]


def test_state_machine_is_standard_logged_and_traced(template):
    _, sm = only(template, "AWS::StepFunctions::StateMachine")
    props = sm["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_outputs(template):
    assert set(template["Outputs"]) >= {"StateMachineArn", "BucketName", "LedgerTableName"}


def test_rate_limit_gate_waits_in_a_wait_state_then_checks_again(states):
    """Check before spawning: the gate Lambda says how long; a Wait state waits (no Lambda sleeps)."""
    select = states["SelectWave"]["Parameters"]
    assert select["max_concurrency.$"] == "$.max_concurrency"
    assert select["index.$"] == "$.progress.wave"
    assert select["checks"] == 0
    check = states["CheckBudget"]
    assert check["TimeoutSeconds"] == 60
    assert check["ResultPath"] == "$.wave"
    assert check["Next"] == "BudgetAllows"
    assert [r["ErrorEquals"] for r in check["Retry"]] == [LAMBDA_SERVICE, ["RateLimitError"], ["TransientError"]]
    # Advice, not a wall: when the budget cannot be read, the wave goes and the spokes' Retry handles limits.
    assert check["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.gate_error", "Next": "Spokes"}]
    allows = states["BudgetAllows"]
    assert allows["Choices"] == [{"Variable": "$.wave.wait_seconds", "NumericGreaterThan": 0, "Next": "WaitForBudget"}]
    assert allows["Default"] == "Spokes"
    assert states["WaitForBudget"] == {"Type": "Wait", "SecondsPath": "$.wave.wait_seconds", "Next": "CheckBudget"}


def test_the_hub_retries_rate_limits_and_transient_errors_of_discovery(states):
    errors = [r["ErrorEquals"] for r in states["Hub"]["Retry"]]
    assert errors == [LAMBDA_SERVICE, ["RateLimitError"], ["TransientError"]]
    assert states["Hub"]["Retry"][2]["IntervalSeconds"] == 30


def test_a_rate_limit_that_says_how_long_is_waited_out_in_a_wait_state(states):
    """After its Retry attempts, "retry after N s: ..." -> Wait N s -> the spoke again (at most 3 times)."""
    catches = states["Spoke"]["Catch"]
    assert [c["ErrorEquals"] for c in catches] == [["RateLimitError", "RateLimitResetError"], ["States.ALL"]]
    assert catches[0] == {
        "ErrorEquals": ["RateLimitError", "RateLimitResetError"],
        "ResultPath": "$.error",
        "Next": "RateLimitCause",
    }
    assert states["Spokes"]["ItemSelector"]["rate_limit"] == {"waits": 0}
    # The caught error's cause is parsed (its message says how long) and the count of waits carried on.
    cause = states["RateLimitCause"]["Parameters"]
    assert (cause["cause.$"], cause["waits.$"]) == ("States.StringToJson($.error.Cause)", "$.rate_limit.waits")
    honour = states["HonourRetryAfter"]
    (rule,) = honour["Choices"]
    message = "$.rate_limit.cause.errorMessage"
    assert rule["And"] == [
        {"Variable": message, "IsPresent": True},
        {"Variable": message, "IsString": True},
        {"Variable": message, "StringMatches": "retry after * s: *"},
        {"Variable": "$.rate_limit.waits", "NumericLessThan": 3},
    ]
    assert (rule["Next"], honour["Default"]) == ("ParseRetryAfter", "RecordFailure")
    assert states["ParseRetryAfter"]["Parameters"]["seconds.$"] == (
        "States.StringToJson(States.ArrayGetItem(States.StringSplit($.rate_limit.cause.errorMessage, ' '), 2))"
    )
    reasonable = states["WaitIsReasonable"]
    assert reasonable["Choices"] == [
        {"Variable": "$.rate_limit.seconds", "NumericLessThanEquals": 3900, "Next": "WaitForRateLimit"}
    ]
    assert reasonable["Default"] == "RecordFailure"
    assert states["WaitForRateLimit"] == {"Type": "Wait", "SecondsPath": "$.rate_limit.seconds", "Next": "Spoke"}


STATE_LIMIT = 262_144  # bytes: Step Functions' quota for a state's input, output and a Map's gathered results


def test_every_map_child_ends_with_an_empty_output(states):
    """A Distributed Map gathers each child's output (ResultPath null does not stop it, aws-cdk issue 24799): a
    child that echoed its input (~110 B noop, ~520 B GitHub) made 2,400 noop children pass 256 KiB."""
    children = states["Spokes"]["ItemProcessor"]["States"]
    ends = {name: state for name, state in children.items() if state.get("End")}
    assert set(ends) == {"Spoke", "RecordFailure", "SuccessAlreadyRecorded", "FailureNotRecorded"}
    for name in ("Spoke", "RecordFailure"):
        # The task's result becomes {} and replaces the whole state (ResultPath defaults to $).
        assert ends[name]["ResultSelector"] == {}, name
        assert "ResultPath" not in ends[name], name
        assert "OutputPath" not in ends[name], name
    for name in ("SuccessAlreadyRecorded", "FailureNotRecorded"):
        assert ends[name]["Result"] == {}, name
        assert "ResultPath" not in ends[name], name
        assert "OutputPath" not in ends[name], name


def test_the_map_writes_child_results_to_s3_not_to_the_state(states, template):
    spokes = states["Spokes"]
    assert spokes["ResultWriter"] == {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "<StorageBucket5CB7C8EA>", "Prefix": "runs/map-results"},
    }
    # Under runs/, so the manifests' lifecycle rule expires the result files too.
    rules = template["Resources"]["StorageBucket5CB7C8EA"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("Prefix") == "runs/" and rule.get("ExpirationInDays") for rule in rules)
    # The state machine may write there (ResultWriter needs s3:PutObject).
    _, policy = next(
        (k, r) for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Policy" and "StateMachine" in k
    )
    actions = {
        a
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {"s3:PutObject", "s3:GetObject"} <= actions


def test_a_failing_child_or_map_still_ends_in_a_report(states):
    spokes = states["Spokes"]
    # AWS: 100 tolerates every child failure (the default 0 fails the Map on the first uncaught one).
    assert spokes["ToleratedFailurePercentage"] == 100
    assert spokes["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notes.map_error", "Next": "Summarize"}]
    assert states["Summarize"]["Parameters"]["Payload"]["notes.$"] == "$.notes"
