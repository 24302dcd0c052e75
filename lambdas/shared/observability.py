"""Powertools Logger, Tracer and Metrics, created once for every function."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider

SERVICE = "hubspoke"
# The stack sets POWERTOOLS_METRICS_NAMESPACE; the default keeps metrics valid wherever the module is imported.
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "HubSpoke")

# The invocation's Lambda context, for utilities deep in an operation that need it (Idempotency uses
# the remaining time to expire an in-progress record of an invocation that died).
lambda_context: ContextVar[Any] = ContextVar("lambda_context", default=None)

# What X-Ray traces: AWS calls (botocore) and the GitHub client's HTTP (urllib3 over http.client). Powertools'
# default patches every module X-Ray knows, which imports `requests` and others no function uses (~26 ms of cold
# start for nothing).
TRACED_MODULES = ("botocore", "httplib")


class _NoSegment:
    """A segment that records nothing (tracing off)."""

    def put_annotation(self, key: str, value: Any) -> None:
        """Nothing to annotate."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Nothing to record."""

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        """Nothing to record."""


class _NoTracing(BaseProvider):
    """Powertools' tracing provider when tracing is off: without one, the Tracer imports aws_xray_sdk.core and
    builds its recorder (two botocore clients, ~100 ms) in every cold start and every CLI process, to trace
    nothing."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[Any]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        """Nothing to annotate."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Nothing to record."""

    def patch(self, modules: Sequence[str]) -> None:
        """Nothing to patch."""

    def patch_all(self) -> None:
        """Nothing to patch."""


def _tracer() -> Tracer:
    """The X-Ray Tracer where Powertools would trace (in Lambda, not disabled), else one that imports no X-Ray."""
    if Tracer._is_tracer_disabled():
        return Tracer(service=SERVICE, disabled=True, provider=_NoTracing())
    return Tracer(service=SERVICE, patch_modules=TRACED_MODULES)


logger = Logger(service=SERVICE)
tracer = _tracer()


def emit_metrics(values: dict[str, tuple[float, MetricUnit]], **dimensions: str) -> None:
    """Metrics sharing one dimension set, written at once as one EMF document (dimension service plus any
    given; alarms read those with service only).

    A fresh EphemeralMetrics per call keeps no shared state, so concurrent invocations in one process (the
    local engine) never mix their metrics, as a shared Metrics instance would.
    """
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for dimension, dimension_value in dimensions.items():
        metrics.add_dimension(name=dimension, value=dimension_value)
    for name, (value, unit) in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()


def emit_metric(name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One metric (see emit_metrics)."""
    emit_metrics({name: (value, unit)}, **dimensions)


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
