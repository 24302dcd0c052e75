"""GitHub's primary (`core`) rate limit on the simulated clock, its secondary limits on writes, and 502s."""

from __future__ import annotations

import math
import random

from devtools.github.errors import MSG_PRIMARY, MSG_SECONDARY, ApiError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RateLimiter:
    """The token's core window (limit, remaining, reset) and the draws of secondary limits; not thread-safe
    by itself: the server calls it under its lock."""

    def __init__(
        self,
        now: float,
        *,
        limit: int = 5000,
        window_seconds: int = 3600,
        secondary_share: float = 0.0,
        retry_after_seconds: int = 60,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= secondary_share <= 1.0:
            raise ValueError("secondary_share must be between 0 and 1")
        if limit < 0 or window_seconds <= 0:
            raise ValueError("rate_limit must be >= 0 and rate_window_seconds > 0")
        self.limit, self.remaining, self.window = limit, limit, window_seconds
        self.reset = math.ceil(now) + window_seconds
        self.secondary_share = secondary_share
        self.retry_after = retry_after_seconds
        self.server_errors = 0  # how many next requests get a 502
        self._rng = random.Random(seed)

    def roll(self, now: float) -> None:
        """Start a new window when the current one has reset."""
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = math.ceil(now) + self.window

    def core(self) -> dict[str, int]:
        """The core window as GitHub reports it."""
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset,
            "used": self.limit - self.remaining,
        }

    def headers(self) -> dict[str, str]:
        """The x-ratelimit-* headers of every answer."""
        core = self.core()
        return {f"x-ratelimit-{name}": str(value) for name, value in core.items()} | {"x-ratelimit-resource": "core"}

    def charge(self, method: str, path: str, rid: str) -> None:
        """Count one authenticated request; ApiError when GitHub would refuse it (502, primary or secondary)."""
        if self.server_errors > 0:
            self.server_errors -= 1
            raise ApiError(502, "Server Error")
        if method == "GET" and path == "/rate_limit":
            return  # GitHub does not charge reading the rate limit
        if self.remaining <= 0:
            raise ApiError(403, MSG_PRIMARY.format(rid=rid))
        self.remaining -= 1
        # One draw per write, in arrival order, so a seed gives the same pattern for the same request order.
        if method in WRITE_METHODS and self._rng.random() < self.secondary_share:
            raise ApiError(403, MSG_SECONDARY.format(rid=rid), headers={"retry-after": str(self.retry_after)})

    def configure(
        self,
        now: float,
        *,
        secondary_share: float | None = None,
        retry_after_seconds: int | None = None,
        rate_limit: int | None = None,
        rate_remaining: int | None = None,
        reset_in_seconds: float | None = None,
        server_errors: int | None = None,
    ) -> None:
        """Change the limits while running; rate_remaining and reset_in_seconds set the current window."""
        if secondary_share is not None and not 0.0 <= secondary_share <= 1.0:
            raise ValueError("secondary_share must be between 0 and 1")
        self.roll(now)
        if secondary_share is not None:
            self.secondary_share = secondary_share
        if retry_after_seconds is not None:
            self.retry_after = retry_after_seconds
        if rate_limit is not None:
            self.limit = max(0, rate_limit)
            self.remaining = min(self.remaining, self.limit)
        if rate_remaining is not None:
            self.remaining = max(0, min(rate_remaining, self.limit))
        if reset_in_seconds is not None:
            self.reset = math.ceil(now + reset_in_seconds)
        if server_errors is not None:
            self.server_errors = max(0, server_errors)
