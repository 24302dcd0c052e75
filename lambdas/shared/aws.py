"""AWS clients, created once per container (boto3 clients are thread-safe; resources are not)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from shared import caches

# The SDK's own retries stay short: long waits belong to Step Functions' Retry, not to a Lambda.
_BOTO_CONFIG = BotoConfig(retries={"max_attempts": 3, "mode": "standard"})


@caches.register
@cache
def client(service: str) -> Any:
    """A shared client for `service`."""
    # A client by name (the stubs' overloads want a literal); callers annotate the typed client they use.
    return boto3.client(service, config=_BOTO_CONFIG)  # type: ignore[call-overload]
