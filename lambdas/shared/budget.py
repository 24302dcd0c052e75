"""The rate-limit gate's decision: spawn the wave now, or wait in Step Functions until the budget resets.

Pure logic, shared by the Gate function and its tests; the budget itself comes from the operation
(GitHub: GET /rate_limit, `core`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# After this many checks in one wave the gate lets the wave go: the spokes' own RateLimitError retries
# take over, and a clock that never resets cannot hold a run forever.
MAX_CHECKS = 20
# Added to the wait so the second check lands after the reset, not on it (the reset is whole seconds).
RESET_MARGIN_SECONDS = 1


@dataclass(frozen=True)
class Budget:
    """What is left of a request budget: `remaining` of `limit` until `reset_in_seconds` from now."""

    remaining: int
    limit: int
    reset_in_seconds: float


@dataclass(frozen=True)
class Decision:
    wait_seconds: int
    max_concurrency: int
    needed: int
    reason: str


def decide(budget: Budget, *, targets: int, requests_per_target: int, max_concurrency: int, checks: int) -> Decision:
    """Wait until reset when the wave needs more than what is left (and waiting can help); otherwise go,
    with no more spokes at once than the remaining budget can serve."""
    needed = targets * requests_per_target
    if budget.remaining < needed and budget.remaining < budget.limit and checks < MAX_CHECKS:
        wait = max(1, math.ceil(budget.reset_in_seconds) + RESET_MARGIN_SECONDS)
        return Decision(
            wait, max_concurrency, needed, f"{budget.remaining} requests left, the wave needs {needed}: wait {wait} s"
        )
    affordable = max(1, budget.remaining // max(1, requests_per_target))
    concurrency = max(1, min(max_concurrency, affordable))
    if budget.remaining >= needed:
        reason = f"{budget.remaining} requests left, the wave needs {needed}: go"
    elif checks >= MAX_CHECKS:
        reason = f"still {budget.remaining} left after {checks} checks: go, spokes retry on limits"
    else:
        reason = f"the whole budget ({budget.limit}) is below the wave's {needed}: go, spokes retry on limits"
    return Decision(0, concurrency, needed, reason)
