"""Error names the state machine's Retry and Catch match, and the empty output every Map child ends with."""

from __future__ import annotations

from stacks.settings import RetryPolicy
from stacks.storage import MANIFEST_PREFIX

# Error names raised by lambdas/shared/errors.py; tests check the two stay in step.
RATE_LIMIT_ERROR = "RateLimitError"
# A rate limit with a known reset: no Retry matches it, it goes straight to the Wait (HonourRetryAfter).
RATE_LIMIT_RESET_ERROR = "RateLimitResetError"
TRANSIENT_ERROR = "TransientError"
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
DYNAMODB_RETRYABLE_ERRORS = [
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
]
# A state's output that is the empty object: what every Map child ends with (its output is gathered).
EMPTY_OUTPUT: dict[str, object] = {}
# Where the Distributed Map writes its children's results (under the manifests' prefix, so they expire with them).
MAP_RESULTS_PREFIX = f"{MANIFEST_PREFIX}map-results"
# A Task's backstop timeout when the Lambda's own timeout is the real limit (hub, summarize).
DYNAMODB_TASK_TIMEOUT_SECONDS = 30
# A Distributed Map that could not read its ItemReader source (the wave's manifest in S3).
ITEM_READER_FAILED = "States.ItemReaderFailed"
# Three more reads, 2 s, 4 s and 8 s after the one that failed: S3 asks for exponential backoff on SlowDown and 5xx.
ITEM_READER_RETRY = RetryPolicy(interval_seconds=2, backoff_rate=2.0, max_attempts=3)
