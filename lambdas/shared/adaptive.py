"""Adaptive concurrency between waves: additive increase, multiplicative decrease (AIMD), as TCP backs off.

After a wave, the gate (lambdas/gate/handler.py) sets the next wave's concurrency from the previous one's:

- more than RATE_LIMITED_SHARE_PERCENT % of the wave's targets met a rate limit: halve it (at least 1);
- no target of the wave met a rate limit: raise it by one step, max(1, max_concurrency // STEP_DIVISOR),
  up to the run's max_concurrency;
- otherwise (a few rate limits): keep it.

The first wave runs at the run's max_concurrency. The gate's API budget can lower any wave further. The counts
live in the run's counters item (lambdas/shared/ledger.py): a spoke adds 1 to `rate_limited_w<index>` when its
target meets its first rate limit, the gate writes `concurrency_w<index>` and `reason_w<index>`.
"""

from __future__ import annotations

from dataclasses import dataclass

# A wave with more than this share of its targets rate-limited halves the next wave's concurrency.
RATE_LIMITED_SHARE_PERCENT = 20.0
# One recovery step is a quarter of the run's max_concurrency (at least 1): from half, two clean waves recover it.
STEP_DIVISOR = 4


def rate_limited_attribute(wave: int) -> str:
    """The counters item's count of a wave's rate-limited targets."""
    return f"rate_limited_w{wave}"


def concurrency_attribute(wave: int) -> str:
    """The counters item's record of the concurrency a wave ran at."""
    return f"concurrency_w{wave}"


def reason_attribute(wave: int) -> str:
    """The counters item's record of why a wave's concurrency changed."""
    return f"reason_w{wave}"


@dataclass(frozen=True)
class Step:
    """The next wave's concurrency and why it changed (None: it did not)."""

    concurrency: int
    reason: str | None


def step(max_concurrency: int) -> int:
    """How much one clean wave raises the concurrency."""
    return max(1, max_concurrency // STEP_DIVISOR)


def next_concurrency(previous: int, rate_limited: int, targets: int, max_concurrency: int) -> Step:
    """The concurrency of the wave after one that ran at `previous` with `rate_limited` of `targets` rate-limited."""
    previous = min(max(previous, 1), max_concurrency)
    if targets > 0 and 100.0 * rate_limited / targets > RATE_LIMITED_SHARE_PERCENT:
        halved = max(1, previous // 2)
        reason = f"halved: {rate_limited} of {targets} rate-limited" if halved < previous else None
        return Step(halved, reason)
    if rate_limited == 0 and previous < max_concurrency:
        raised = min(max_concurrency, previous + step(max_concurrency))
        return Step(raised, f"raised by {raised - previous}: 0 of {targets} rate-limited")
    return Step(previous, None)
