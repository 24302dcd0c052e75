"""Error classes. A class name is the Step Functions error name that Retry and Catch match on.

Keep every name here: the state machine's Retry entries (stacks/workflow.py) refer to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


class HubSpokeError(Exception):
    """Base of every error HubSpoke raises on purpose."""


class InvalidRunRequest(HubSpokeError):  # noqa: N818 - the Step Functions error name
    """The run request (or a discovered target list) is invalid; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid run request: " + "; ".join(problems))


class RateLimitError(HubSpokeError):
    """A downstream API said "slow down": retried with exponential backoff and full jitter.

    A message starting "retry after <integer> s: " (shared.github.retry_after_error) is also honoured after
    the Retry attempts: the state machine waits that long in a Wait state, then tries the target again.
    """


class RateLimitResetError(RateLimitError):
    """The API said when it will take requests again (a spent primary limit's reset, a retry-after).

    A name of its own so that the state machine's fast RateLimitError Retry does not match it: every request
    before that moment is sure to be refused (GitHub warns that continuing may get an integration banned). It
    goes straight to the Wait state; its message always starts "retry after <integer> s: ".
    """


class TransientError(HubSpokeError):
    """A failure that is likely to pass (5xx, timeout): retried with long backoff."""


class TargetError(HubSpokeError):
    """The operation cannot succeed on this target: recorded as failed, never retried."""


class ProtectedBranchError(TargetError):
    """A branch rule (protection or ruleset) refuses the change."""


class ArchivedRepositoryError(TargetError):
    """The repository is archived, so read-only."""


class PermissionDeniedError(TargetError):
    """The credentials may read the target but not change it."""


class TargetNotFoundError(TargetError):
    """The target is gone, or not visible to the credentials."""


class ResultTooLargeError(TargetError):
    """The operation's result is over MAX_RESULT_BYTES: too large for the ledger row and the state payload."""


class FieldConflictError(TargetError):
    """A Kubernetes server-side apply conflict: another field manager owns a field the manifest sets."""


class CredentialsError(TargetError):
    """The credentials are missing or were rejected; every target will fail the same way."""


# AWS error codes that mean "not now": throttling (one run is one ledger partition, about 1,000 writes/s) and
# server-side faults. botocore retries them a few times; if they still surface, the call becomes a TransientError,
# which the state machine retries with long backoff, instead of an error no Retry matches.
AWS_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


# AWS error codes for "slow down" across the services HubSpoke calls (STS says Throttling, ECS ThrottlingException).
AWS_THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)


def aws_error_code(err: ClientError) -> str:
    """The AWS error code of a botocore ClientError ('' when the response has none)."""
    return str(err.response.get("Error", {}).get("Code", ""))


def aws_error_message(err: ClientError) -> str:
    """The AWS error message of a botocore ClientError ('' when the response has none)."""
    return str(err.response.get("Error", {}).get("Message", ""))


def aws_call_error(err: ClientError, what: str, service: str, target_errors: Mapping[str, str]) -> Exception:
    """An AWS error of an operation's call as a Step Functions error: a throttle is a RateLimitError (retried soon),
    a code in `target_errors` a TargetError saying why in words (never retried), anything else a TransientError."""
    code, message = aws_error_code(err), aws_error_message(err)
    if code in AWS_THROTTLE_CODES:
        return RateLimitError(f"{what}: {service} throttled the call ({code})")
    if code in target_errors:
        return TargetError(f"{what}: {target_errors[code]} ({code}: {message})")
    return TransientError(f"{what}: {code or 'error'}: {message}")


def is_conditional_failure(err: ClientError) -> bool:
    """DynamoDB refused a write because its condition did not hold (an expected outcome, not a fault)."""
    return aws_error_code(err) == "ConditionalCheckFailedException"


def is_retryable_aws_error(err: ClientError) -> bool:
    """True for an AWS error worth retrying later: a throttle or a 5xx."""
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return aws_error_code(err) in AWS_RETRYABLE_CODES or status >= 500


# Names the state machine matches; the tests check the workflow and these stay in step.
RETRYABLE_ERRORS = (RateLimitError.__name__, TransientError.__name__)
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
