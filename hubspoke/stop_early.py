"""The stop-early flags of both `run` commands: `--canary N|P%`, `--canary-pause S`, `--circuit-breaker K|P%`,
`--adaptive-concurrency`, turned into the run request's `canary`, `circuit_breaker` and `adaptive_concurrency`
fields (the hub validates them again)."""

from __future__ import annotations

import math
import re
from typing import Any

# A percentage circuit breaker from the CLI waits for this many finished targets before it can open (the run
# request's circuit_breaker.min_targets; the same default as the hub's, DEFAULT_BREAKER_MIN_TARGETS).
CLI_BREAKER_MIN_TARGETS = 10
CANARY_HELP = (
    "Run N targets (or P% of them) first; stop, the rest skipped, if their failure rate is over the threshold."
)
CANARY_PAUSE_HELP = "Seconds (simulated locally) between a passed canary and the rest."
CIRCUIT_BREAKER_HELP = (
    f"Stop starting spokes after K failures (or P% of at least {CLI_BREAKER_MIN_TARGETS} finished targets); "
    "the rest are skipped."
)
ADAPTIVE_HELP = (
    "Halve the next wave's concurrency after a wave with over 20% of its targets rate-limited; "
    "recover step by step after clean waves."
)
_COUNT = re.compile(r"[0-9]+")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")


class StopEarlyError(ValueError):
    """A stop-early flag's value is not one we accept; the message names the flag."""


def _count_or_percent(flag: str, value: str) -> tuple[str, int | float]:
    text = value.strip()
    if _COUNT.fullmatch(text):
        count = int(text)
        if count < 1:
            raise StopEarlyError(f"{flag}: {value!r} must be at least 1 (a number of targets, or a percentage P%)")
        return "count", count
    found = _PERCENT.fullmatch(text)
    if found:
        percent = float(found.group(1))
        if not 0 < percent <= 100 or not math.isfinite(percent):
            raise StopEarlyError(f"{flag}: {value!r} must be a percentage over 0 and at most 100")
        return "percent", int(percent) if percent.is_integer() else percent
    raise StopEarlyError(f"{flag}: {value!r} is neither a number (e.g. 10) nor a percentage (e.g. 5%)")


def stop_early_fields(
    canary: str | None, canary_pause: int | None, circuit_breaker: str | None, *, adaptive: bool = False
) -> dict[str, Any]:
    """The request fields the flags set (none when no flag is given); StopEarlyError names a bad flag."""
    fields: dict[str, Any] = {"adaptive_concurrency": True} if adaptive else {}
    if canary_pause is not None and canary is None:
        raise StopEarlyError("--canary-pause: goes with --canary N or --canary P%")
    if canary is not None:
        kind, amount = _count_or_percent("--canary", canary)
        fields["canary"] = {"targets" if kind == "count" else "percent": amount}
        if canary_pause:
            fields["canary"]["pause_seconds"] = canary_pause
    if circuit_breaker is not None:
        kind, amount = _count_or_percent("--circuit-breaker", circuit_breaker)
        fields["circuit_breaker"] = (
            {"failures": amount} if kind == "count" else {"percent": amount, "min_targets": CLI_BREAKER_MIN_TARGETS}
        )
    return fields
