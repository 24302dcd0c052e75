"""The spoke's clock. In Lambda it is the real clock; the local engine scales it (HUBSPOKE_TIME_SCALE).

A scale of 0.01 means one simulated second lasts 10 ms of real time.
"""

from __future__ import annotations

import os
import time

TIME_SCALE_ENV = "HUBSPOKE_TIME_SCALE"


def time_scale() -> float:
    """Real seconds per simulated second (1.0 unless the local engine says otherwise)."""
    return float(os.environ.get(TIME_SCALE_ENV, "1"))


def sleep(simulated_seconds: float) -> None:
    """Sleep for a simulated duration."""
    if simulated_seconds > 0:
        time.sleep(simulated_seconds * time_scale())


def monotonic() -> float:
    """Monotonic time in simulated seconds."""
    return time.monotonic() / time_scale()
