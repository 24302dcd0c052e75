"""The simulated clock: tasks measured on the scaled clock, handlers stopped at their Lambda timeout.

Adaptations `scaled-timeout` and `lambda-timeout` (see adaptations.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hubspoke.engine.runtime import LocalRunStopped


class LambdaTimedOut(Exception):  # noqa: N818 - shaped as Lambda's own error type below
    """The handler ran past its function's timeout; Lambda would have stopped it here."""

    error_type = "Sandbox.Timedout"


class SimulatedTaskTime:
    """Measures tasks on the simulated clock, for Task TimeoutSeconds (adaptation `scaled-timeout`).

    Handlers sleep through `sleep` (patched into lambdas/shared/clock.py), which records how long each
    thread slept in real time. moto runs every task in a thread of its own and waits on an Event with the
    task's timeout; `deadline_event` makes that wait end when the task's simulated elapsed time
    (real time - slept + slept / scale) reaches the timeout.
    """

    POLL_SECONDS = 0.05  # how often a waiting task re-checks while its worker is not sleeping

    def __init__(
        self, scale: float, halt: threading.Event | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.scale = scale
        self._clock = clock
        # Set when the run is stopped: sleeping handlers wake and end (LocalRunStopped) instead of sleeping on.
        self.halt = halt or threading.Event()
        self._lock = threading.Lock()
        # thread -> (slept so far, sleep start, sleep asked for); thread -> (invocation start, Lambda timeout in
        # simulated s). Sleeping counts 1/scale times, but never for longer than the sleep asked for: a thread that
        # waits for the GIL after its sleep ended (100 threads, a busy machine) is slow, not asleep. Counting that
        # wait 1/scale times once timed a 2 s spoke out at 300 s (test_two_thousand_targets, under coverage).
        self._slept: dict[threading.Thread, tuple[float, float | None, float]] = {}
        self._invocations: dict[threading.Thread, tuple[float, float]] = {}
        self._local = threading.local()
        outer = self

        class DeadlineEvent(threading.Event):
            worker: threading.Thread | None = None

            def __init__(self) -> None:
                super().__init__()
                outer._local.last_event = self

            def wait(self, timeout: float | None = None) -> bool:
                if timeout is None or self.worker is None:
                    return super().wait(timeout)
                return outer._wait(self, self.worker, timeout)

        class TrackedThread(threading.Thread):
            def start(self) -> None:
                # moto creates the Event, then the task's thread: pair them.
                event = getattr(outer._local, "last_event", None)
                if event is not None:
                    event.worker = self
                super().start()

            def run(self) -> None:
                try:
                    super().run()
                finally:
                    with outer._lock:
                        outer._invocations.pop(self, None)

        self.deadline_event = DeadlineEvent
        self.tracked_thread = TrackedThread

    def start_invocation(self, timeout_simulated_seconds: float) -> None:
        """Called by the runtime in the invoking thread: the Lambda's own timeout applies from now."""
        with self._lock:
            self._invocations[threading.current_thread()] = (self._clock(), timeout_simulated_seconds)

    def sleep(self, real_seconds: float) -> None:
        """A handler's scaled sleep; past its Lambda timeout it ends there, as Lambda would end it."""
        thread = threading.current_thread()
        with self._lock:
            slept, _, _ = self._slept.get(thread, (0.0, None, 0.0))
            invocation = self._invocations.get(thread)
        cut_short = False
        if invocation is not None:
            started, limit = invocation
            used, _ = self._simulated(thread, self._clock() - started)
            allowed = max(limit - used, 0.0) * self.scale
            if real_seconds > allowed:
                real_seconds, cut_short = allowed, True
        with self._lock:
            self._slept[thread] = (slept, self._clock(), real_seconds)
        try:
            halted = self.halt.wait(real_seconds)
        finally:
            with self._lock:
                slept, started_sleep, asked = self._slept.get(thread, (0.0, None, 0.0))
                took = self._clock() - (started_sleep or self._clock())
                self._slept[thread] = (slept + min(took, asked), None, 0.0)
        if halted:
            raise LocalRunStopped("the local run was stopped")
        if cut_short:
            raise LambdaTimedOut(f"Task timed out after {invocation[1] if invocation else 0:.2f} seconds")

    def _simulated(self, thread: threading.Thread | None, real_elapsed: float) -> tuple[float, bool]:
        with self._lock:
            slept, started, asked = self._slept.get(thread, (0.0, None, 0.0)) if thread else (0.0, None, 0.0)
        sleeping = started is not None
        if sleeping:
            slept += min(self._clock() - (started or 0.0), asked)
        return real_elapsed - slept + slept / self.scale, sleeping

    def _wait(self, event: threading.Event, worker: threading.Thread, timeout: float) -> bool:
        begun = self._clock()
        try:
            while True:
                simulated, sleeping = self._simulated(worker, self._clock() - begun)
                remaining = timeout - simulated
                if remaining <= 0:
                    return event.is_set()
                step = remaining * self.scale if sleeping else min(remaining, self.POLL_SECONDS)
                if threading.Event.wait(event, max(step, 0.001)):
                    return True
        finally:
            with self._lock:
                self._slept.pop(worker, None)
