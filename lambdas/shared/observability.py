"""Powertools Logger, Tracer and Metrics, created once for every function."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "hubspoke"
# The stack sets POWERTOOLS_METRICS_NAMESPACE; the default keeps metrics valid wherever the module is imported.
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "HubSpoke")

# The invocation's Lambda context, for utilities deep in an operation that need it (Idempotency uses
# the remaining time to expire an in-progress record of an invocation that died).
lambda_context: ContextVar[Any] = ContextVar("lambda_context", default=None)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)


def emit_metric(name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One EMF metric, written at once, with dimension service (alarms read these) plus any given.

    Powertools' single_metric keeps no shared state, so concurrent invocations in one process (the local
    engine) never mix their metrics, as a shared Metrics instance would.
    """
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={"service": SERVICE, **dimensions}
    ):
        pass


@contextmanager
def log_context(**keys: Any) -> Iterator[None]:
    """Add keys (run_id, target_id, ...) to every log line inside the block, per thread.

    Powertools' append_context_keys shares its keys between threads; the thread-safe variant does not,
    which matters where several invocations share a process (the local engine).
    """
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(keys))
