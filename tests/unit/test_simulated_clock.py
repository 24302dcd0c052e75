"""The engine's simulated clock (adaptation `scaled-timeout`): a handler's sleep counts 1/scale times, the rest of
its time as it is, so Task TimeoutSeconds mean on the engine what they mean on AWS."""

from __future__ import annotations

import threading

import pytest

from hubspoke.engine.clock import SimulatedTaskTime

SCALE = 0.01  # 1 simulated second is 10 real ms


class _Busy(threading.Event):
    """The halt event a sleep waits on, on a machine so busy that the sleeper runs again `late` seconds after its
    sleep ended (100 threads wanting the GIL); `during` runs as the sleep ends, before the late wake-up."""

    def __init__(self, now: list[float], late: float, during: list[float]) -> None:
        super().__init__()
        self.now, self.late, self.during = now, late, during

    def wait(self, timeout: float | None = None) -> bool:
        self.now[0] += timeout or 0.0
        self.during.append(self.now[0])
        self.now[0] += self.late
        return False


def test_a_late_wake_up_counts_as_time_not_as_sleep():
    now = [1000.0]
    clock = SimulatedTaskTime(SCALE, _Busy(now, late=3.0, during=[]), clock=lambda: now[0])
    worker = threading.current_thread()
    began = now[0]
    # WHEN a handler sleeps 2 simulated seconds (20 ms) and runs again 3 real seconds after its sleep ended
    clock.sleep(2 * SCALE)
    simulated, sleeping = clock._simulated(worker, now[0] - began)
    # THEN the task has used 2 s asleep and 3 s of (slow) work, not 302 s of sleep
    assert not sleeping
    assert simulated == pytest.approx(2.0 + 3.0)


def test_a_sleep_in_progress_counts_no_longer_than_it_asked():
    now = [1000.0]
    seen: list[float] = []
    busy = _Busy(now, late=0.0, during=seen)
    clock = SimulatedTaskTime(SCALE, busy, clock=lambda: now[0])
    worker = threading.current_thread()
    began = now[0]
    checked: list[tuple[float, bool]] = []

    def waits_then_looks(timeout: float | None = None) -> bool:
        # The task's deadline looks while the sleeper is still waiting for the GIL, 5 s after its 20 ms sleep ended
        now[0] += (timeout or 0.0) + 5.0
        checked.append(clock._simulated(worker, now[0] - began))
        return False

    busy.wait = waits_then_looks  # type: ignore[method-assign]
    clock.sleep(2 * SCALE)
    # THEN it counts 2 s asleep and the 5 s since as they are: 7 s, far from a 300 s timeout (it was 502 s)
    ((simulated, sleeping),) = checked
    assert sleeping
    assert simulated == pytest.approx(2.0 + 5.0)


def test_a_sleep_cut_short_at_the_lambda_timeout():
    from hubspoke.engine.clock import LambdaTimedOut

    now = [1000.0]
    clock = SimulatedTaskTime(SCALE, _Busy(now, late=0.0, during=[]), clock=lambda: now[0])
    # GIVEN an invocation with a 10 s Lambda timeout that already worked 4 s (real time counts as it is)
    clock.start_invocation(10.0)
    now[0] += 4.0
    # WHEN it asks to sleep 60 simulated seconds
    with pytest.raises(LambdaTimedOut):
        clock.sleep(60 * SCALE)
    # THEN it slept only the 6 s left (60 ms real), as Lambda ends it at its timeout
    assert now[0] == pytest.approx(1000.0 + 4.0 + 6 * SCALE)
