"""Fixtures for whole runs: the CLI run in-process on the session's synth cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hubspoke.cli import app
from hubspoke.engine import LocalEngine
from hubspoke.synth import SynthesizedStack, synthesize_cached


@pytest.fixture
def cli(tmp_path, synth_cache, stack, monkeypatch):
    """Run the CLI in-process, sharing the session's synth cache (the `stack` fixture fills it)."""
    home = tmp_path / "home"
    (home).mkdir()
    (home / "synth").symlink_to(synth_cache)
    monkeypatch.setenv("HUBSPOKE_HOME", str(home))
    monkeypatch.chdir(tmp_path)

    def run(*args: str):
        return CliRunner().invoke(app, ["local", "run", "--quiet", *args])

    return run


@contextmanager
def spokes_held_until_running(
    engine, count: int, timeout: float = 120.0, *, until: Callable[[], bool] | None = None
) -> Iterator[threading.Event]:
    """Hold the first `count` spokes inside their handler until all of them are running at once (and, given
    `until`, until it holds too); yields the event set when all of them are running.

    A peak-concurrency assertion must not depend on the machine's speed: with a scaled clock a spoke's
    simulated work lasts milliseconds, and on a busy machine the first spokes could finish before the last
    one starts. Holding them inside the handler (after the runtime counted them active) makes reaching the
    cap certain; the Map's MaxConcurrency alone decides whether it is ever passed.
    """
    fn, real, all_running = _hold_spokes(engine, count, timeout, until)
    try:
        yield all_running
    finally:
        fn.handler = real


def hold_spokes_of_every_engine(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """As spokes_held_until_running, in every engine started from now on (the CLI's, which a test cannot reach)."""
    enter = LocalEngine.__enter__

    def entered(self: LocalEngine) -> LocalEngine:
        engine = enter(self)
        _hold_spokes(engine, count, 120.0, None)
        return engine

    monkeypatch.setattr(LocalEngine, "__enter__", entered)


def _hold_spokes(engine, count: int, timeout: float, until: Callable[[], bool] | None):
    fn = engine.runtime.function(engine.spoke_function)
    real = engine.runtime._load(fn)
    arrived = 0
    lock = threading.Lock()
    all_running = threading.Event()

    def held(event, context):
        nonlocal arrived
        with lock:
            arrived += 1
            if arrived >= count:
                all_running.set()
            first = arrived <= count
        if first:
            all_running.wait(timeout)
            if until is not None:
                _wait_for(until, timeout)
        return real(event, context)

    fn.handler = held
    return fn, real, all_running


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Until `condition` holds (checked every few ms: what it reads has no event to wait on), or `timeout`."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition() and time.monotonic() < deadline:
        tick.wait(0.002)


# The e2e deployment with a ceiling for all runs together: the spoke's ReservedConcurrentExecutions. Its runs default
# to 4 spokes at once (max_concurrency may not exceed the ceiling).
CEILING = 6


@pytest.fixture(scope="session")
def ceiling_stack(synth_cache: Path) -> SynthesizedStack:
    """The stack deployed with max_total_concurrency CEILING (and max_concurrency 4 under it)."""
    return synthesize_cached(synth_cache, {"max_total_concurrency": CEILING, "max_concurrency": 4})
