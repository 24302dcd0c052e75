"""The state machine: Hub -> Distributed Map of Spokes (Catch -> RecordFailure) -> Summarize -> outcome.

One module per fragment: discovery (hub, discovery-budget wait, duplicate delivery), plan (a dry run ends
there), waves, gate (API budget), spokes (the Distributed Map and its child), retry_after (the Wait loop both
use), failure (the ledger's failure row), summary (Summarize and the outcome); machine wires them into the
Workflow construct.
"""

from __future__ import annotations

from stacks.workflow.errors import (
    DYNAMODB_RETRYABLE_ERRORS,
    DYNAMODB_TASK_TIMEOUT_SECONDS,
    EMPTY_OUTPUT,
    LAMBDA_SERVICE_ERRORS,
    MAP_RESULTS_PREFIX,
    RATE_LIMIT_ERROR,
    RATE_LIMIT_RESET_ERROR,
    TRANSIENT_ERROR,
)
from stacks.workflow.machine import Workflow

__all__ = [
    "DYNAMODB_RETRYABLE_ERRORS",
    "DYNAMODB_TASK_TIMEOUT_SECONDS",
    "EMPTY_OUTPUT",
    "LAMBDA_SERVICE_ERRORS",
    "MAP_RESULTS_PREFIX",
    "RATE_LIMIT_ERROR",
    "RATE_LIMIT_RESET_ERROR",
    "TRANSIENT_ERROR",
    "Workflow",
]
