"""AWS clients, created once per container (boto3 clients are thread-safe; resources are not)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from shared import caches

# The SDK's own retries stay short: long waits belong to Step Functions' Retry, not to a Lambda.
BOTO_CONFIG = BotoConfig(retries={"max_attempts": 3, "mode": "standard"})


@caches.register
@cache
def client(service: str, region: str | None = None) -> Any:
    """A shared client for `service`, in the function's region or in `region`."""
    # Any: callers annotate the typed client they ask for (mypy_boto3_* stubs); the name is only known here.
    factory: Callable[..., Any] = boto3.client
    return (
        factory(service, config=BOTO_CONFIG)
        if region is None
        else factory(service, region_name=region, config=BOTO_CONFIG)
    )
