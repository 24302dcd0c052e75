"""Fixtures for whole runs: the CLI run in-process on the session's synth cache."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hubspoke.cli import app


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
