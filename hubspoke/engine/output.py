"""Stdout while the engine runs: handler output to the run log (whole lines, EMF kept), the rest to the terminal."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from hubspoke.engine.runtime import InProcessRuntime

LAMBDA_LOGGER = "hubspoke"  # the Powertools service name (lambdas/shared/observability.py)


class OutputRouter(io.TextIOBase):
    """sys.stdout while the engine runs: handler threads write to the run log, everyone else to the terminal."""

    def __init__(self, terminal: TextIO, runtime: InProcessRuntime, log: TextIO | None) -> None:
        self.terminal = terminal
        self.runtime = runtime
        self.log = log
        self.active = True
        self.emf: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # print() writes a line and its newline in two calls; a line is kept per thread until it is complete,
        # so another handler's line cannot land between the two (two JSON documents on one log line).
        self._partial = threading.local()

    def write(self, text: str) -> int:
        if not (self.active and self.runtime.in_handler()):
            return self.terminal.write(text)
        pending = getattr(self._partial, "text", "") + text
        complete, newline, rest = pending.rpartition("\n")
        self._partial.text = rest
        if newline:
            self._write_lines(complete + newline)
        return len(text)

    def _write_lines(self, lines: str) -> None:
        with self._lock:
            if '"_aws"' in lines:  # Powertools Metrics prints one EMF document per line
                for line in lines.splitlines():
                    if line.startswith("{") and '"_aws"' in line:
                        self.emf.append(json.loads(line))
            if self.log is not None:
                self.log.write(lines)

    def flush(self) -> None:
        rest = getattr(self._partial, "text", "")
        if rest:
            self._partial.text = ""
            self._write_lines(rest)
        self.terminal.flush()
        if self.log is not None:
            self.log.flush()


class CurrentStdout(io.TextIOBase):
    """Writes to whatever sys.stdout is at the time (what a logger created before us should go back to)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def route_output(stack: ExitStack, runtime: InProcessRuntime, log_path: Path | None) -> OutputRouter:
    """Install the router over sys.stdout until `stack` closes; moto's warnings and handler output go to the log."""
    terminal = sys.stdout
    log = stack.enter_context(log_path.open("a", encoding="utf-8")) if log_path else None
    # moto's interpreter logs every caught failure at WARNING; that belongs in the run log, not the terminal.
    moto_logger = logging.getLogger("moto")
    moto_handler = logging.StreamHandler(log) if log else logging.NullHandler()
    moto_logger.addHandler(moto_handler)
    stack.callback(moto_logger.removeHandler, moto_handler)
    propagate = moto_logger.propagate
    moto_logger.propagate = False
    stack.callback(setattr, moto_logger, "propagate", propagate)
    router = OutputRouter(terminal, runtime, log)
    sys.stdout = router
    stack.callback(_restore_stdout, router, terminal)
    # A Powertools Logger created before the engine started (tests import handlers) holds an old stdout.
    # Assign rather than setStream: setStream flushes the old stream, which may be closed by now.
    for handler in logging.getLogger(LAMBDA_LOGGER).handlers:
        if type(handler) is logging.StreamHandler:
            handler.stream = router
            stack.callback(setattr, handler, "stream", CurrentStdout())
    return router


def _restore_stdout(router: OutputRouter, terminal: TextIO) -> None:
    # Give back the stream we found at start, unless someone has replaced us since. The router is
    # done with its log (closed next): a late flush through a stale reference must not touch it.
    if sys.stdout is router:
        sys.stdout = terminal
    router.terminal = terminal
    router.log = None


@contextmanager
def stdout_routed(router: OutputRouter | None) -> Iterator[None]:
    """The router on top of sys.stdout for one run, and whatever was there before put back after it.

    Someone may have swapped stdout since the engine started: pytest does between fixtures and tests,
    rich's Progress puts a proxy over it while its bar is live. The router goes over that stream for
    the run only; restoring in order keeps every stream in its owner's hands (the proxy of a finished
    bar must not outlive it as our terminal, nor we as its file).
    """
    if router is None or sys.stdout is router:
        yield
        return
    previous, previous_terminal = sys.stdout, router.terminal
    router.terminal = previous
    sys.stdout = router
    try:
        yield
    finally:
        if sys.stdout is router:
            sys.stdout = previous
        router.terminal = previous_terminal
