"""One execution at a time per run id: the hub claims the run before it writes anything.

EventBridge starts executions with names of its own, so two deliveries of one push are two executions with
the same run id; without a claim the second hub resets the rows to `pending` under the first run's spokes,
and the first run's Summarize counts them lost. The claim is a conditional write in the idempotency table
(item `run#<run_id>`, owner = the execution's ARN). A second execution finds the owner:

- still RUNNING (Step Functions DescribeExecution): it is a duplicate delivery and runs nothing;
- ended (any other status, or gone): it takes the claim over with a write conditional on that owner, and
  reruns the run id as before (the README's "rerun a run id").

Two takeovers at once: one conditional write wins, the other sees the winner RUNNING.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared.errors import aws_error_code, is_conditional_failure

CLAIM_PREFIX = "run#"  # Powertools Idempotency's own keys are '<function>.<name>#<hash>': no overlap
_ATTEMPTS = 3  # read the owner, try to take over; a lost race means a new owner, who is running


@dataclass(frozen=True)
class Claim:
    """The outcome: `owned` (this execution runs the run id) or the running owner it duplicates."""

    owned: bool
    owner: str
    took_over_from: str | None = None


class RunClaims:
    """Claims in a DynamoDB table keyed by `id` (the idempotency table), owners checked with Step Functions."""

    def __init__(self, dynamodb: Any, stepfunctions: Any, table: str, ttl_days: int) -> None:
        self._db = dynamodb
        self._sfn = stepfunctions
        self._table = table
        self._ttl_seconds = ttl_days * 86400

    def claim(self, run_id: str, execution_arn: str) -> Claim:
        key = {"id": {"S": CLAIM_PREFIX + run_id}}
        previous: str | None = None
        for _ in range(_ATTEMPTS):
            if self._write(key, execution_arn, previous):
                return Claim(owned=True, owner=execution_arn, took_over_from=previous)
            owner = self._owner(key)
            if owner is None or owner == execution_arn:
                previous = None  # expired between our write and read, or our own retried hub: write again
                continue
            if self._running(owner):
                return Claim(owned=False, owner=owner)
            previous = owner
        raise RuntimeError(f"run {run_id}: could not claim it after {_ATTEMPTS} attempts (claims keep changing)")

    def _write(self, key: dict[str, Any], execution_arn: str, previous: str | None) -> bool:
        """Claim when nobody has (or we have); or take over from `previous`, who has ended."""
        if previous is None:
            condition = "attribute_not_exists(id) OR #owner = :me"
            values: dict[str, Any] = {":me": {"S": execution_arn}}
        else:
            condition = "#owner = :previous"
            values = {":previous": {"S": previous}}
        now = int(time.time())
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **key,
                    "owner": {"S": execution_arn},
                    "claimed_at": {"N": str(now)},
                    "expiration": {"N": str(now + self._ttl_seconds)},
                },
                ConditionExpression=condition,
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if is_conditional_failure(err):
                return False
            raise
        return True

    def _owner(self, key: dict[str, Any]) -> str | None:
        item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return str(item["owner"]["S"]) if item else None

    def _running(self, execution_arn: str) -> bool:
        try:
            status = self._sfn.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as err:
            if aws_error_code(err) == "ExecutionDoesNotExist":
                return False  # history gone (90 days) or another state machine's: nothing runs it
            raise
        return bool(status in ("RUNNING", "PENDING_REDRIVE"))
