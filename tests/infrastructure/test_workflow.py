"""The state machine as synthesized, by its properties: what must hold of every state, every path and every
Retry list, not a copy of the definition. The expected numbers come from DESIGN.md (the seed's retry numbers)
and the settings' documented defaults (cdk.json), written here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match, Template

LAMBDA_SERVICE = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# DESIGN.md: "Lambda service errors 2s x2 6 attempts; RateLimitError 1s x2 5 attempts FULL jitter;
# TransientError 30s x2 3 attempts (the seed's numbers)"; a rate-limit backoff is capped at 60 s.
LAMBDA_SERVICE_RETRY = {"ErrorEquals": LAMBDA_SERVICE, "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 6}
RATE_LIMIT_RETRY = {
    "ErrorEquals": ["RateLimitError"],
    "IntervalSeconds": 1,
    "BackoffRate": 2,
    "MaxAttempts": 5,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
TRANSIENT_RETRY = {"ErrorEquals": ["TransientError"], "IntervalSeconds": 30, "BackoffRate": 2, "MaxAttempts": 3}
# Tasks that call rate-limited or flaky APIs retry all three, in this order (service errors first).
API_TASKS = ("Hub", "CheckBudget", "Spoke")
TASKS = {"Hub", "CheckBudget", "Spoke", "RecordFailure", "CountFailure", "ReadCanaryFailures", "Summarize"}
# Settings defaults: a "retry after N s" is waited out up to 3 times, N at most 3,900 s (GitHub's hour + margin).
MAX_WAITS = 3
MAX_WAIT_SECONDS = 3900
SPOKE_TIMEOUT_SECONDS = 300  # cdk.json spoke_timeout_seconds


def successors(state: dict[str, Any]) -> list[str]:
    """Every state this one can go to: Next, each Choice rule, Default, each Catch."""
    rules = state.get("Choices", [])
    targets = [state.get("Next"), *(r.get("Next") for r in rules), state.get("Default")]
    targets += [c["Next"] for c in state.get("Catch", [])]
    return [t for t in targets if t]


def reachable(states: dict[str, Any], start: str, *, stop: Iterable[str] = ()) -> set[str]:
    """The states reachable from `start` (itself included), not walking on past any state in `stop`."""
    stop = set(stop)
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in stop:
            todo.extend(successors(states[name]))
    return seen


def terminal(states: dict[str, Any], names: Iterable[str]) -> set[str]:
    """Of `names`, the states that end a state machine (or a Map child): End, Succeed or Fail."""
    return {n for n in names if states[n].get("End") or states[n]["Type"] in ("Succeed", "Fail")}


def loop_exits(states: dict[str, Any], start: str, *, stop: Iterable[str]) -> set[str]:
    """Where a loop beginning at `start` can leave to: the `stop` states it reaches, and any terminal state."""
    inside = reachable(states, start, stop=stop)
    return (inside & set(stop)) | terminal(states, inside - set(stop))


def test_the_definition_is_one_connected_graph(definition, states):
    """Every transition names an existing state, and every state can be reached from the start."""
    for name, state in states.items():
        for target in successors(state):
            assert target in states, f"{name} -> {target}"
    top = definition["States"]
    assert reachable(top, definition["StartAt"]) == set(top)
    children = top["Spokes"]["ItemProcessor"]
    assert reachable(children["States"], children["StartAt"]) == set(children["States"])


def test_every_task_has_a_timeout(states):
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert set(tasks) == TASKS
    for name, task in tasks.items():
        assert isinstance(task.get("TimeoutSeconds"), int), name
        assert task["TimeoutSeconds"] > 0, name
    assert states["Spoke"]["TimeoutSeconds"] == SPOKE_TIMEOUT_SECONDS


@pytest.mark.parametrize("name", API_TASKS)
def test_api_tasks_retry_service_errors_then_rate_limits_then_transient_errors(states, name):
    assert states[name]["Retry"] == [LAMBDA_SERVICE_RETRY, RATE_LIMIT_RETRY, TRANSIENT_RETRY]


def test_summarize_retries_service_errors_then_any_error(states):
    # Summarize is idempotent (it recomputes from the ledger): any crash is retried, 5 s x2, twice.
    assert states["Summarize"]["Retry"] == [
        LAMBDA_SERVICE_RETRY,
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "BackoffRate": 2, "MaxAttempts": 2},
    ]


def test_states_all_comes_last_and_alone_in_every_retry_and_catch(states):
    """ASL: States.ALL must be the only name of the last Retry or Catch entry, or the definition is invalid."""
    for name, state in states.items():
        for field in ("Retry", "Catch"):
            entries = state.get(field, [])
            for position, entry in enumerate(entries):
                if "States.ALL" in entry["ErrorEquals"]:
                    assert entry["ErrorEquals"] == ["States.ALL"], (name, field)
                    assert position == len(entries) - 1, (name, field)


def test_every_spoke_error_is_caught_and_recorded(states):
    """The Spoke's last Catch takes every error into RecordFailure; every path from any Catch ends at a failure
    row (RecordFailure and its own outcomes) or runs the spoke again (the retry-after wait)."""
    spoke = states["Spoke"]
    assert spoke["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}
    recorded = reachable(states, "RecordFailure")
    # All RecordFailure leads to ends the child; a written row goes on to CountFailure (the run's counter) first.
    assert terminal(states, recorded) == recorded - {"RecordFailure"}
    assert states["RecordFailure"]["Next"] == "CountFailure"
    for catch in spoke["Catch"]:
        assert loop_exits(states, catch["Next"], stop={"Spoke", "RecordFailure"}) <= {"Spoke", "RecordFailure"}
    record = states["RecordFailure"]
    assert record["Resource"] == "arn:aws:states:::dynamodb:updateItem"  # a DynamoDB task, no Lambda
    # The failure row itself cannot fail the child: a condition failure (a success already there) and any other
    # error both end the child quietly.
    assert [c["ErrorEquals"] for c in record["Catch"]] == [["DynamoDB.ConditionalCheckFailedException"], ["States.ALL"]]
    assert {states[c["Next"]]["Type"] for c in record["Catch"]} == {"Pass"}
    assert all(states[c["Next"]].get("End") for c in record["Catch"])


def test_the_failure_row_never_overwrites_a_success(states):
    params = states["RecordFailure"]["Parameters"]
    assert params["Key"] == {"run_id": {"S.$": "$.run.run_id"}, "target_id": {"S.$": "$.target.id"}}
    assert "attribute_exists(run_id)" in params["ConditionExpression"]
    assert "NOT (#s IN (:succeeded, :unchanged, :skipped))" in params["ConditionExpression"]
    values = params["ExpressionAttributeValues"]
    assert {k: values[k] for k in (":failed", ":succeeded", ":unchanged", ":skipped")} == {
        ":failed": {"S": "failed"},
        ":succeeded": {"S": "succeeded"},
        ":unchanged": {"S": "unchanged"},
        ":skipped": {"S": "skipped"},
    }
    assert (values[":error"], values[":cause"]) == ({"S.$": "$.error.Error"}, {"S.$": "$.error.Cause"})


def test_the_failure_row_enters_the_sparse_index_of_failed_rows(states):
    """RecordFailure sets `failed_run` (the index's key) to the run id in the same conditional write that marks
    the row failed: a row is in the failed index exactly when it is failed, and a success is never indexed."""
    params = states["RecordFailure"]["Parameters"]
    assert "failed_run = :run" in params["UpdateExpression"]
    assert params["UpdateExpression"].startswith("SET ")
    assert params["ExpressionAttributeValues"][":run"] == {"S.$": "$.run.run_id"}


def test_the_map_reads_the_waves_manifest_at_the_waves_concurrency_and_discards_results(states):
    spokes = states["Spokes"]
    assert spokes["Type"] == "Map"
    assert spokes["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    reader = spokes["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSON"}
    assert reader["Parameters"]["Key.$"] == "$.wave.key"
    assert spokes["MaxConcurrencyPath"] == "$.wave.max_concurrency"  # the run's, or what the gate allows
    assert "MaxConcurrency" not in spokes  # exclusive with the path
    assert spokes["ResultPath"] is None  # results live in the ledger, never in the state
    assert spokes["ItemSelector"]["target.$"] == "$$.Map.Item.Value"
    assert spokes["ItemSelector"]["rate_limit"] == {"waits": 0}  # each target starts with no retry-after waits


def test_a_manifest_read_that_fails_is_retried_and_nothing_else_reruns_the_map(states):
    """S3 answers SlowDown or a 500 now and then; the Map's ItemReader failing (States.ItemReaderFailed, AWS's error
    handling docs) before any child ran is read again: 2 s, 4 s, 8 s. No other Map error is retried (a
    States.ResultWriterFailed comes after the children ran: retrying would run every target again)."""
    assert states["Spokes"]["Retry"] == [
        {"ErrorEquals": ["States.ItemReaderFailed"], "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 3}
    ]


def test_a_throttled_failure_row_is_retried(states):
    """RecordFailure is a DynamoDB task: a throttled ledger answers it ProvisionedThroughputExceededException (or
    ThrottlingException, RequestLimitExceeded, a 500), which it retries 1 s, x2, 5 times (31 s in all) before the
    row is left pending and counted lost."""
    assert states["RecordFailure"]["Retry"] == [
        {
            "ErrorEquals": [
                "DynamoDB.ProvisionedThroughputExceededException",
                "DynamoDB.RequestLimitExceeded",
                "DynamoDB.ThrottlingException",
                "DynamoDB.InternalServerErrorException",
            ],
            "IntervalSeconds": 1,
            "BackoffRate": 2,
            "MaxAttempts": 5,
        }
    ]


def test_a_failing_child_or_map_still_ends_in_a_report(states):
    spokes = states["Spokes"]
    # AWS: 100 tolerates every child failure (the default 0 fails the Map on the first uncaught one).
    assert spokes["ToleratedFailurePercentage"] == 100
    assert spokes["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notes.map_error", "Next": "Summarize"}]
    assert states["Summarize"]["Parameters"]["Payload"]["notes.$"] == "$.notes"


def test_the_outcome_choice_ends_in_succeed_or_fail(definition, states):
    top = definition["States"]
    # However the run goes, it ends at the outcome (or, earlier, a plan, a duplicate delivery or a failed discovery).
    assert terminal(top, top) == {"RunSucceeded", "RunFailed", "Planned", "AlreadyRunning", "DiscoveryFailed"}
    assert states["Summarize"]["Next"] == "RunOutcome"
    outcome = states["RunOutcome"]
    (rule,) = outcome["Choices"]
    assert (rule["Variable"], rule["StringEquals"]) == ("$.summary.outcome", "succeeded")
    assert states[rule["Next"]]["Type"] == "Succeed"
    assert states[outcome["Default"]]["Type"] == "Fail"


def test_a_plan_ends_succeeded_before_any_spoke_or_summary(states):
    """Hub -> DryRun -> Planned: the hub's planned output ends the execution; no spoke, gate or Summarize runs."""
    before = reachable(states, "Hub", stop={"DryRun"})
    assert "DryRun" in before
    assert before.isdisjoint({"Spokes", "CheckBudget", "Summarize", "DuplicateDelivery"})
    (rule,) = states["DryRun"]["Choices"]
    assert reachable(states, rule["Next"]) == {"Planned"}
    assert states["Planned"]["Type"] == "Succeed"
    assert states["DryRun"]["Default"] == "DuplicateDelivery"


def test_waves_loop_through_the_gate_and_the_map_then_summarize(states):
    """AnyTargets -> SelectWave -> (gate) -> Spokes -> AdvanceWave -> MoreWaves -> WavePause -> SelectWave, and
    out to Summarize when the waves are done; no targets go straight to Summarize."""
    any_targets = states["AnyTargets"]
    assert any_targets["Choices"][0]["Next"] == "SelectWave"
    assert any_targets["Default"] == "Summarize"
    # Every way from a selected wave reaches its Map, and only the Map: the gate never skips or ends a wave.
    assert loop_exits(states, "SelectWave", stop={"Spokes"}) == {"Spokes"}
    assert states["SelectWave"]["Parameters"]["index.$"] == "$.progress.wave"
    assert states["Spokes"]["Next"] == "AdvanceWave"
    assert loop_exits(states, "AdvanceWave", stop={"SelectWave", "Summarize"}) == {"SelectWave", "Summarize"}
    more = states["MoreWaves"]
    canary, rule = more["Choices"]
    # After wave 0 of a run with a canary, the canary's verdict comes first (test_stop_early_states).
    assert canary["Next"] == "ReadCanaryFailures"
    assert (rule["Variable"], rule["NumericLessThanPath"]) == ("$.progress.wave", "$.waves.count")
    pause = states[rule["Next"]]
    assert (pause["Type"], pause["SecondsPath"], pause["Next"]) == ("Wait", "$.waves.pause_seconds", "SelectWave")
    assert more["Default"] == "Summarize"


def test_the_budget_gate_waits_in_a_wait_state_then_checks_again(states):
    """Check before spawning: the gate Lambda says how long; a Wait state waits (no Lambda sleeps); a check
    that cannot be made lets the wave go (each spoke's Retry handles limits)."""
    needs = states["NeedsBudgetCheck"]
    # An operation with an API budget, or a run whose concurrency adapts (the gate sets each wave's).
    assert needs["Choices"] == [
        {
            "Or": [
                {"Variable": "$.budget_check", "BooleanEquals": True},
                {"Variable": "$.adaptive_concurrency", "BooleanEquals": True},
            ],
            "Next": "CheckBudget",
        }
    ]
    assert needs["Default"] == "Spokes"
    check = states["CheckBudget"]
    assert check["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.gate_error", "Next": "Spokes"}]
    allows = states[check["Next"]]
    (wait_rule,) = allows["Choices"]
    assert (wait_rule["Variable"], wait_rule["NumericGreaterThan"]) == ("$.wave.wait_seconds", 0)
    wait = states[wait_rule["Next"]]
    assert (wait["Type"], wait["SecondsPath"], wait["Next"]) == ("Wait", "$.wave.wait_seconds", "CheckBudget")
    assert allows["Default"] == "Spokes"


@pytest.mark.parametrize(
    ("task", "catch_target", "at", "give_up"),
    [
        ("Spoke", "RateLimitCause", "$.rate_limit", "RecordFailure"),
        ("Hub", "DiscoveryRateLimited", "$.discovery", "DiscoveryFailed"),
    ],
)
def test_a_rate_limit_that_says_how_long_is_waited_out_then_the_task_runs_again(
    states, task, catch_target, at, give_up
):
    """A RateLimitError (or a known reset) is caught first; its "retry after N s: " is waited out in a Wait state
    of N s, at most 3 times, N at most 3,900 s; then the same task again. Otherwise it gives up."""
    catch = states[task]["Catch"][0]
    assert catch["ErrorEquals"] == ["RateLimitError", "RateLimitResetError"]
    assert catch["Next"] == catch_target
    assert loop_exits(states, catch_target, stop={task, give_up}) == {task, give_up}
    loop = reachable(states, catch_target, stop={task, give_up}) - {task, give_up}
    (wait,) = [states[n] for n in loop if states[n]["Type"] == "Wait"]
    assert (wait["SecondsPath"], wait["Next"]) == (f"{at}.seconds", task)
    rules = [rule for n in loop if states[n]["Type"] == "Choice" for rule in states[n]["Choices"]]
    # Each condition without its Next: the And of HonourRetryAfter's rule taken apart.
    conditions = [{k: v for k, v in c.items() if k != "Next"} for rule in rules for c in rule.get("And", [rule])]
    assert {"Variable": f"{at}.waits", "NumericLessThan": MAX_WAITS} in conditions
    assert {"Variable": f"{at}.seconds", "NumericLessThanEquals": MAX_WAIT_SECONDS} in conditions
    assert {"Variable": f"{at}.cause.errorMessage", "StringMatches": "retry after * s: *"} in conditions


def test_every_map_child_ends_with_an_empty_output(states):
    """A Distributed Map gathers each child's output (ResultPath null does not stop it, aws-cdk issue 24799): a
    child that echoed its input (~110 B noop, ~520 B GitHub) made 2,400 noop children pass 256 KiB."""
    children = states["Spokes"]["ItemProcessor"]["States"]
    ends = terminal(children, children)
    assert ends == {"Spoke", "CountFailure", "SuccessAlreadyRecorded", "FailureNotRecorded", "FailureNotCounted"}
    for name in ends:
        output = children[name].get("ResultSelector", children[name].get("Result"))
        assert output == {}, name
        # The empty result replaces the whole state (ResultPath defaults to $).
        assert "ResultPath" not in children[name], name
        assert "OutputPath" not in children[name], name


def test_the_map_writes_child_results_to_s3_not_to_the_state(states, template):
    writer = states["Spokes"]["ResultWriter"]
    assert writer["Resource"] == "arn:aws:states:::s3:putObject"
    # The manifests' bucket (the one the ItemReader reads).
    assert writer["Parameters"]["Bucket"] == states["Spokes"]["ItemReader"]["Parameters"]["Bucket"]
    bucket = writer["Parameters"]["Bucket"].strip("<>")
    assert template["Resources"][bucket]["Type"] == "AWS::S3::Bucket"
    assert writer["Parameters"]["Prefix"].startswith("runs/")
    # Under runs/, so the manifests' lifecycle rule expires the result files too.
    rules = template["Resources"][bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("Prefix") == "runs/" and rule.get("ExpirationInDays") for rule in rules)


def test_state_machine_is_standard_logged_and_traced(template):
    Template.from_json(template).has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "TracingConfiguration": {"Enabled": True},
        },
    )


def test_the_state_machine_may_read_manifests_and_write_results(template):
    """ItemReader needs s3:GetObject and ResultWriter s3:PutObject, on the stack's bucket."""
    role = Capture()
    Template.from_json(template).has_resource_properties(
        "AWS::StepFunctions::StateMachine", {"RoleArn": {"Fn::GetAtt": [role, "Arn"]}}
    )
    policies = [
        r["Properties"]["PolicyDocument"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role.as_string()} in r["Properties"]["Roles"]
    ]
    actions = {
        a
        for policy in policies
        for st in policy["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {"s3:PutObject", "s3:GetObject"} <= actions


def test_outputs(template):
    assert set(template["Outputs"]) >= {"StateMachineArn", "BucketName", "LedgerTableName"}
