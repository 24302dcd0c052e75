"""How an engine ends: handlers stopped on Ctrl-C, or let finish while moto can still answer them."""

from __future__ import annotations

import threading
import time

from hubspoke.engine.runtime import InProcessRuntime


def halt_handlers(runtime: InProcessRuntime, halt: threading.Event, grace_seconds: float) -> None:
    """No new handler starts; sleeping handlers and retry backoffs wake and end; then wait, briefly,
    for the handlers and moto's interpreter threads to finish while moto is still here to answer them."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    runtime.close()
    halt.set()
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        busy = any(f.stats.active for f in runtime.functions)
        if not busy and not any(t.is_alive() for t in list(TMP_THREADS)):
            return
        time.sleep(0.01)


def drain(runtime: InProcessRuntime) -> None:
    """Let handlers still running (a spoke past its task timeout) finish while moto is still up.

    Lambda would stop them at their own timeout; after that they would otherwise call AWS unmocked.
    """
    longest = max((f.timeout_seconds for f in runtime.functions), default=0.0)
    deadline = time.monotonic() + longest + 5
    while any(f.stats.active for f in runtime.functions) and time.monotonic() < deadline:
        time.sleep(0.01)
