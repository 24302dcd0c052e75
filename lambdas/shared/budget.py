"""The rate-limit gate's decision: spawn the wave now, or wait in Step Functions until the budget resets.

Pure logic, shared by the Gate function and its tests; the budget itself comes from the operation
(GitHub: GET /rate_limit, `core`).

Waiting idles the rest of the window, so the gate waits only when the reset buys something: enough for the whole
wave, or enough for the wave's concurrency when what is left cannot serve it. A wave bigger than a whole window
spans several windows whatever the gate does; it goes now, as many spokes at once as the budget serves, and the
spokes wait for each later reset in their own Wait states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# After this many checks in one wave the gate lets the wave go: the spokes' own rate-limit waits take over,
# and a clock that never resets cannot hold a run forever.
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
    """Go now, or wait until the reset when the reset brings enough for the wave (or for the spokes the wave runs
    at once, which what is left cannot serve); going, run no more spokes at once than the budget serves."""
    per_target = max(1, requests_per_target)
    needed = targets * requests_per_target
    at_once = max_concurrency * per_target  # what the wave's concurrency uses in one round of spokes
    left = budget.remaining
    concurrency = max(1, min(max_concurrency, left // per_target))
    if left >= needed:
        return Decision(0, concurrency, needed, f"{left} requests left, the wave needs {needed}: go")
    if checks < MAX_CHECKS:
        wait = max(1, math.ceil(budget.reset_in_seconds) + RESET_MARGIN_SECONDS)
        if budget.limit >= needed:
            return Decision(
                wait, max_concurrency, needed, f"{left} requests left, the wave needs {needed}: wait {wait} s"
            )
        # The reset restores the wave's concurrency (or, when no window holds that, at least one spoke's worth).
        if left < at_once <= budget.limit or left < per_target <= budget.limit:
            return Decision(
                wait,
                max_concurrency,
                needed,
                f"{left} requests left, {max_concurrency} spokes at once need {at_once}: wait {wait} s for "
                f"{budget.limit}",
            )
    if checks >= MAX_CHECKS:
        reason = f"still {left} left after {checks} checks: go, spokes wait for the reset on limits"
    else:
        reason = (
            f"the whole budget ({budget.limit}) is below the wave's {needed}: go now with {left} left, "
            f"{concurrency} at once; spokes wait for each reset"
        )
    return Decision(0, concurrency, needed, reason)
