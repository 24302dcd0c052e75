"""The run-id claim as synthesized: the hub learns its execution's ARN, a duplicate ends at once (succeeded),
and the hub may read the claim's owner execution and write the claim."""

from __future__ import annotations

from tests.iam import Call, allows, execution_arn, function_statements, table_arn

from .conftest import resources


def test_the_hub_gets_its_execution_arn(states):
    assert states["Hub"]["Parameters"]["Payload"]["execution_id.$"] == "$$.Execution.Id"


def test_a_duplicate_delivery_ends_succeeded_before_anything_runs(states):
    choice = states["DuplicateDelivery"]
    (duplicate,) = choice["Choices"]
    assert duplicate["Variable"] == "$.duplicate_of"
    assert duplicate["IsPresent"] is True
    assert states[duplicate["Next"]]["Type"] == "Succeed"
    assert choice["Default"] == "AnyTargets"


def test_the_hub_may_check_and_take_the_claim(template):
    statements = function_statements(template, "hub.")
    (idempotency,) = [k for k in resources(template, "AWS::DynamoDB::Table") if k.startswith("StorageIdempotency")]
    claims = table_arn(f"hubspoke-{idempotency.lower()}")
    assert allows(statements, Call("states:DescribeExecution", (execution_arn("push-abc"),)))
    # Only this stack's state machine's executions.
    other = execution_arn("push-abc").replace(":HubSpoke:", ":SomeoneElse:")
    assert not allows(statements, Call("states:DescribeExecution", (other,)))
    for action in ("dynamodb:GetItem", "dynamodb:PutItem"):
        assert allows(statements, Call(action, (claims,)))
