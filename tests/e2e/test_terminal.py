"""The installed command in a pseudo-terminal, as a person runs it: progress bar live on stderr, Ctrl-C.

Redirected output takes other code paths (no live display, no stdout proxy), so these run under a pty.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# What must never reach the screen: a Python traceback, a logging failure, a closed-file flush.
NOISE = ("Traceback", "Logging error", "I/O operation on closed file", "Exception ignored")


@pytest.fixture
def home(tmp_path: Path, synth_cache: Path, stack: object) -> Path:
    """A HUBSPOKE_HOME sharing the session's synth cache (the `stack` fixture fills it)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    return home


def spawn(args: list[str], home: Path, cwd: Path) -> pexpect.spawn:
    env = {**os.environ, "HUBSPOKE_HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "120"}
    return pexpect.spawn(
        sys.executable,
        ["-m", "hubspoke", *args],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(50, 120),
        timeout=600,
    )


def finish(child: pexpect.spawn) -> tuple[int | None, str]:
    """Read to the end; the exit code and the screen text without colour codes."""
    screen = child.read()
    child.close()
    return child.exitstatus, ANSI.sub("", screen)


def test_local_run_in_a_terminal_exits_0_with_a_clean_screen(home: Path, tmp_path: Path) -> None:
    child = spawn(["local", "run", "--targets", "12", "--params-json", '{"sleep_ms": 100}'], home, tmp_path)
    code, screen = finish(child)
    assert code == 0, screen
    assert "12/12" in screen  # the progress bar was drawn
    assert "SUCCEEDED" in screen  # and the summary printed
    assert not [n for n in NOISE if n in screen], screen


def test_local_event_in_a_terminal_exits_0_with_a_clean_screen(home: Path, tmp_path: Path) -> None:
    args = ["local", "event", str(EXAMPLES / "ecr-push-web.json"), "--world", str(EXAMPLES / "world.json")]
    child = spawn([*args, "--deliveries", "2", "--summary-json", "s.json"], home, tmp_path)
    code, screen = finish(child)
    assert code == 0, screen
    assert "Delivery 2 of 2" in screen
    assert not [n for n in NOISE if n in screen], screen
    assert json.loads((tmp_path / "s.json").read_text())[1]["outcome"] == "succeeded"
