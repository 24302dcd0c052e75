"""`noop`: does nothing but wait, with deterministic fault injection. Used by the demo, tests, benchmarks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from shared import clock
from shared.errors import RateLimitError, TargetError, TransientError
from shared.models import OperationResult, SpokeInput

if TYPE_CHECKING:
    from shared.config import HubEnv
    from shared.operations import OperationContext

NAME = "noop"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fail_ids: frozenset[str] = frozenset()
    rate_limit_ids: frozenset[str] = frozenset()
    rate_limit_times: int = Field(default=1, ge=1, le=100)
    transient_ids: frozenset[str] = frozenset()
    transient_times: int = Field(default=1, ge=1, le=100)
    sleep_ms: int = Field(default=0, ge=0, le=900_000)
    # Extra simulated work for some targets only: spokes that outlive their task timeout.
    slow_ids: frozenset[str] = frozenset()
    slow_ms: int = Field(default=0, ge=0, le=3_600_000)
    # A result detail this many characters long for some targets only: a spoke returning a large payload.
    large_ids: frozenset[str] = frozenset()
    large_bytes: int = Field(default=0, ge=0, le=6_000_000)


# What a spoke costs besides the sleep: the handler, the params, one conditional ledger write (an assumption).
SPOKE_OVERHEAD_SECONDS = 0.05


def spoke_seconds(params: Params, env: HubEnv | None = None) -> float:
    """A plan's assumption: the overhead and `sleep_ms` (the slow targets' extra is not counted)."""
    return SPOKE_OVERHEAD_SECONDS + params.sleep_ms / 1000


def run(params: Params, item: SpokeInput, ctx: OperationContext | None = None) -> OperationResult:
    """Sleep `sleep_ms` (simulated), then fail as injected for this target and attempt."""
    target_id = item.target.id
    clock.sleep((params.sleep_ms + (params.slow_ms if target_id in params.slow_ids else 0)) / 1000)
    if target_id in params.fail_ids:
        raise TargetError(f"injected permanent failure for {target_id}")
    if target_id in params.rate_limit_ids and item.attempt <= params.rate_limit_times:
        raise RateLimitError(f"injected rate limit for {target_id} (attempt {item.attempt})")
    if target_id in params.transient_ids and item.attempt <= params.transient_times:
        raise TransientError(f"injected transient error for {target_id} (attempt {item.attempt})")
    if target_id in params.large_ids:
        return OperationResult(
            status="succeeded", detail={"slept_ms": params.sleep_ms, "blob": "x" * params.large_bytes}
        )
    return OperationResult(status="succeeded", detail={"slept_ms": params.sleep_ms})
