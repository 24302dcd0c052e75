"""Fixtures for whole runs: the CLI run in-process on the session's synth cache."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from hubspoke.cli import app
from hubspoke.engine import LocalEngine


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
def spokes_held_until_running(engine, count: int, timeout: float = 120.0) -> Iterator[None]:
    """Hold the first `count` spokes inside their handler until all of them are running at once.

    A peak-concurrency assertion must not depend on the machine's speed: with a scaled clock a spoke's
    simulated work lasts milliseconds, and on a busy machine the first spokes could finish before the last
    one starts. Holding them inside the handler (after the runtime counted them active) makes reaching the
    cap certain; the Map's MaxConcurrency alone decides whether it is ever passed.
    """
    fn, real = _hold_spokes(engine, count, timeout)
    try:
        yield
    finally:
        fn.handler = real


def hold_spokes_of_every_engine(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """As spokes_held_until_running, in every engine started from now on (the CLI's, which a test cannot reach)."""
    enter = LocalEngine.__enter__

    def entered(self: LocalEngine) -> LocalEngine:
        engine = enter(self)
        _hold_spokes(engine, count, 120.0)
        return engine

    monkeypatch.setattr(LocalEngine, "__enter__", entered)


def _hold_spokes(engine, count: int, timeout: float):
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
        return real(event, context)

    fn.handler = held
    return fn, real
