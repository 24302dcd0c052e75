"""The double's time: real time sped up, or a clock that moves only when a test moves it."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """The server's time: epoch seconds now, and a sleep on the same clock (request latency)."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class ScaledClock:
    """Real time, sped up: `time_scale` real seconds per simulated second, starting at the real epoch."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self._epoch0, self._mono0 = time.time(), time.monotonic()

    def now(self) -> float:
        return self._epoch0 + (time.monotonic() - self._mono0) / self.time_scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds * self.time_scale)


class ManualClock:
    """A clock that moves only when told (thread-safe): `sleep` and `advance` add to it, nothing else does.

    Give the same clock to the server and to the client's sleep, and a client waiting for a reset "sleeps" it
    away in no real time, however slow or busy the machine is.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now += seconds

    sleep = advance
