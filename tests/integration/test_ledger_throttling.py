"""The ledger under DynamoDB throttling: a throttle or 5xx that outlasted botocore's retries is a TransientError
(Step Functions retries it); noting a failed attempt is best effort and never raises (issue item 6)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from shared.errors import TransientError
from shared.models import SpokeResult, Target

from .conftest import Aws

# What DynamoDB answers when it throttles or fails on its side (error code, HTTP status).
RETRYABLE = [
    ("ProvisionedThroughputExceededException", 400),
    ("ThrottlingException", 400),
    ("RequestLimitExceeded", 400),
    ("InternalServerError", 500),
]


def answer(aws: Aws, operation: str, code: str, status: int) -> None:
    """Every `operation` call on the ledger's client answers this error (as after botocore's retries)."""

    def before_call(**_: object) -> tuple[object, dict[str, Any]]:
        error = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return SimpleNamespace(status_code=status, headers={}), error

    aws.dynamodb.meta.events.register(f"before-call.dynamodb.{operation}", before_call)


def result(run_id: str) -> SpokeResult:
    return SpokeResult(run_id=run_id, target_id="a", status="succeeded", attempts=1, duration_ms=5, detail={})


@pytest.mark.parametrize(("code", "status"), RETRYABLE)
def test_a_throttled_success_row_is_a_transient_error(aws, code, status):
    aws.ledger.seed_pending("r", [Target(id="a")], 1)
    answer(aws, "PutItem", code, status)
    with pytest.raises(TransientError, match=code):
        aws.ledger.mark_finished(result("r"), 1)


@pytest.mark.parametrize(("code", "status"), RETRYABLE)
def test_a_throttled_seed_or_read_is_a_transient_error(aws, code, status):
    answer(aws, "BatchWriteItem", code, status)
    answer(aws, "Query", code, status)
    with pytest.raises(TransientError):
        aws.ledger.seed_pending("r", [Target(id="a")], 1)
    with pytest.raises(TransientError):
        next(aws.ledger.pages("r"))


def test_other_errors_are_not_made_transient(aws):
    aws.ledger.seed_pending("r", [Target(id="a")], 1)
    answer(aws, "PutItem", "ValidationException", 400)
    with pytest.raises(Exception, match="ValidationException") as caught:
        aws.ledger.mark_finished(result("r"), 1)
    assert not isinstance(caught.value, TransientError)


@pytest.mark.parametrize(("code", "status"), [*RETRYABLE, ("AccessDeniedException", 400)])
def test_noting_an_attempt_never_raises(aws, code, status):
    aws.ledger.seed_pending("r", [Target(id="a")], 1)
    answer(aws, "UpdateItem", code, status)
    aws.ledger.record_attempt_error("r", "a", 1, "RateLimitError: slow down")  # no exception
