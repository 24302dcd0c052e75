"""CPython 3.11's trace-install race, kept out of a coverage-measured suite (python/cpython#98257).

`_PyEval_SetTrace` has a process-wide re-entrancy guard: when two threads install a trace function at the same
moment, the second fails with "Cannot install a trace function while another trace function is being
installed". Under coverage every new thread installs one twice (threading's bootstrap installs coverage's
installer, whose first call installs the real tracer), and the engine starts hundreds of threads at once; the
loser dies before running its target. An engine task thread died so, its task waited out its 300 s timeout,
and the 2,000-target test recorded a 21st failure (States.Timeout) or a target lost. Python 3.12 traces through
sys.monitoring and has no such guard, so this does nothing there, nor without a tracer.

The three installs a thread makes go through one lock here, and an install that still meets the guard (held by
a call outside these three) is tried again.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_BUSY = "Cannot install a trace function while another trace function is being installed"


def _one_at_a_time(install: Callable[..., Any]) -> Callable[..., Any]:
    def installed_alone(*args: Any, **kwargs: Any) -> Any:
        while True:
            with _LOCK:
                try:
                    return install(*args, **kwargs)
                except RuntimeError as err:
                    if _BUSY not in str(err):
                        raise

    return installed_alone


class _Sys:
    """The sys module as threading and coverage's collector see it, with settrace one at a time."""

    settrace = staticmethod(_one_at_a_time(sys.settrace))

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


def serialize_trace_installs() -> bool:
    """Route a new thread's trace installs through one lock; True if it applied (Python < 3.12, coverage on)."""
    if sys.version_info >= (3, 12) or sys.gettrace() is None:
        return False
    from coverage import collector

    threading._sys = _Sys()  # type: ignore[attr-defined]  # threading's bootstrap: sys.settrace(coverage's hook)
    collector.sys = _Sys()  # type: ignore[attr-defined,assignment]  # coverage's installer: sys.settrace(None)
    collector.Collector._start_tracer = _one_at_a_time(collector.Collector._start_tracer)  # type: ignore[method-assign]
    return True
