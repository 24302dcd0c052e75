"""The run-id claim on moto's DynamoDB and Step Functions (executions stay RUNNING until stopped here)."""

from __future__ import annotations

import json

import boto3
import pytest
from mypy_boto3_stepfunctions import SFNClient

from hub.claims import CLAIM_PREFIX, RunClaims
from hub.handler import handler

from .conftest import IDEMPOTENCY_TABLE

ROLE = "arn:aws:iam::123456789012:role/states"


@pytest.fixture
def sfn(aws) -> SFNClient:
    """moto's Step Functions with one state machine, the one start() starts."""
    client = boto3.client("stepfunctions")
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    client.create_state_machine(name="HubSpoke", definition=json.dumps(definition), roleArn=ROLE)
    return client


def start(sfn: SFNClient, name: str) -> str:
    (machine,) = sfn.list_state_machines()["stateMachines"]
    return sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=name, input="{}")["executionArn"]


@pytest.fixture
def claims(aws, sfn):
    return RunClaims(aws.dynamodb, sfn, IDEMPOTENCY_TABLE, ttl_days=30)


def test_the_first_execution_owns_the_run_and_its_retried_hub_still_does(claims, sfn):
    first = start(sfn, "push-a")
    assert claims.claim("push-1", first).owned
    assert claims.claim("push-1", first).owned  # the same execution's hub, retried


def test_a_second_execution_while_the_owner_runs_is_a_duplicate(claims, sfn):
    first, second = start(sfn, "push-a"), start(sfn, "push-b")
    claims.claim("push-1", first)
    claim = claims.claim("push-1", second)
    assert (claim.owned, claim.owner) == (False, first)
    assert claims.claim("push-2", second).owned  # another run id is another claim


@pytest.mark.parametrize("ended", ["stopped", "gone"])
def test_an_owner_that_ended_is_taken_over(claims, sfn, aws, ended):
    first = start(sfn, "push-a")
    claims.claim("push-1", first)
    if ended == "stopped":
        sfn.stop_execution(executionArn=first)
    else:  # an execution Step Functions no longer knows (history expired, another state machine)
        aws.dynamodb.put_item(
            TableName=IDEMPOTENCY_TABLE,
            Item={"id": {"S": CLAIM_PREFIX + "push-1"}, "owner": {"S": first.replace("push-a", "push-gone")}},
        )
    second = start(sfn, "push-b")
    claim = claims.claim("push-1", second)
    assert claim.owned
    item = aws.dynamodb.get_item(TableName=IDEMPOTENCY_TABLE, Key={"id": {"S": CLAIM_PREFIX + "push-1"}})["Item"]
    assert item["owner"]["S"] == second
    assert int(item["expiration"]["N"]) > int(item["claimed_at"]["N"])  # the table's TTL attribute


def test_the_hub_of_a_duplicate_writes_nothing(aws, sfn, context):
    first, second = start(sfn, "push-a"), start(sfn, "push-b")
    request = {"run_id": "r-1", "operation": "noop", "source": {"type": "static", "targets": [{"id": "a"}]}}
    out = handler({"request": request, "execution_name": "push-a", "execution_id": first}, context)
    assert out["count"] == 1
    duplicate = handler({"request": request, "execution_name": "push-b", "execution_id": second}, context)
    assert duplicate == {"run": {"run_id": "r-1", "operation": "noop", "params": {}}, "duplicate_of": first}
    assert aws.keys("runs/") == ["runs/r-1/manifest.json", "runs/r-1/wave-0000.json"]
    assert [r.status for r in aws.rows("r-1").values()] == ["pending"]


def test_a_refused_request_claims_nothing(aws, sfn, context):
    execution = start(sfn, "push-a")
    request = {"run_id": "r-2", "operation": "noop", "source": {"type": "static", "targets": [{"id": "a"}] * 2}}
    with pytest.raises(Exception, match="duplicate target ids"):
        handler({"request": request, "execution_name": "push-a", "execution_id": execution}, context)
    assert "Item" not in aws.dynamodb.get_item(TableName=IDEMPOTENCY_TABLE, Key={"id": {"S": CLAIM_PREFIX + "r-2"}})
