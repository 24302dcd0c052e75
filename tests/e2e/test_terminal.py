"""The installed command in a pseudo-terminal, as a person runs it: progress bar live on stderr, Ctrl-C.

Redirected output takes other code paths (no live display, no stdout proxy), so these run under a pty.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import WATCH_OPTIONS

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


# Loaded at interpreter start-up in the CLI process: records every socket connect and name lookup, before
# anything (the engine's own guard included) can refuse it, one JSON line per event.
SOCKET_WATCH = """
import json, os, sys

_path = os.environ["HUBSPOKE_TEST_SOCKET_LOG"]

def _watch(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        where = args[1] if event == "socket.connect" else [args[0], args[1]]
        with open(_path, "a") as out:
            out.write(json.dumps({"event": event, "address": where}, default=str) + "\\n")

sys.addaudithook(_watch)
"""
LOOPBACK = ("127.", "::1", "localhost")


def off_machine(log: Path) -> list[dict[str, object]]:
    """The recorded connects and lookups whose destination is not this machine."""
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    leaks = []
    for event in events:
        address = event["address"]
        host = address if isinstance(address, str) else address[0]
        if isinstance(address, str) and event["event"] == "socket.connect":
            continue  # an AF_UNIX path: this machine
        if host is None or not str(host).startswith(LOOPBACK):
            leaks.append(event)
    return leaks


def spawn(args: list[str], home: Path, cwd: Path, **extra_env: str) -> pexpect.spawn:
    watch = cwd / "socket-watch"
    watch.mkdir(exist_ok=True)
    (watch / "sitecustomize.py").write_text(SOCKET_WATCH)
    env = {
        **os.environ,
        "HUBSPOKE_HOME": str(home),
        "TERM": "xterm-256color",
        "COLUMNS": "120",
        "PYTHONPATH": os.pathsep.join([str(watch), os.environ.get("PYTHONPATH", "")]),
        "HUBSPOKE_TEST_SOCKET_LOG": str(cwd / "sockets.jsonl"),
        **extra_env,
    }
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
    """Read to the end; the exit code and the screen text without colour codes, nor the terminal's own
    echo of Ctrl-C ("^C", written by the tty driver, not by the command)."""
    screen = child.read()
    child.close()
    return child.exitstatus, ANSI.sub("", screen).replace("^C", "")


def test_local_run_in_a_terminal_exits_0_with_a_clean_screen(home: Path, tmp_path: Path) -> None:
    child = spawn(["local", "run", "--targets", "12", "--params-json", '{"sleep_ms": 100}'], home, tmp_path)
    code, screen = finish(child)
    assert code == 0, screen
    assert "12/12" in screen  # the progress bar was drawn
    assert "SUCCEEDED" in screen  # and the summary printed
    assert not [n for n in NOISE if n in screen], screen
    assert off_machine(tmp_path / "sockets.jsonl") == []


def test_local_event_in_a_terminal_exits_0_with_a_clean_screen(
    home: Path, tmp_path: Path, watched_stack: object
) -> None:
    args = ["local", "event", str(EXAMPLES / "ecr-push-web.json"), "--world", str(EXAMPLES / "world.json")]
    args += WATCH_OPTIONS
    child = spawn([*args, "--deliveries", "2", "--summary-json", "s.json"], home, tmp_path)
    code, screen = finish(child)
    assert code == 0, screen
    assert "Delivery 2 of 2" in screen
    assert not [n for n in NOISE if n in screen], screen
    assert json.loads((tmp_path / "s.json").read_text())[1]["outcome"] == "succeeded"


# Long enough that finishing would take minutes: 400 spokes of 200 s simulated (2 s real at the default
# scale 0.01), 4 at a time, is 200 s of real time at the very least.
LONG_RUN = ["--targets", "400", "--max-concurrency", "4", "--params-json", '{"sleep_ms": 200000}']
INTERRUPTED = re.compile(r"interrupted: run (\S+) stopped, (\d+) of (\d+) targets finished; ledger and logs in (\S+)")


def test_ctrl_c_stops_a_local_run_in_one_line_with_exit_130_and_nothing_off_the_machine(
    home: Path, tmp_path: Path
) -> None:
    child = spawn(["local", "run", "--run-id", "long", *LONG_RUN], home, tmp_path)
    child.expect("spokes", timeout=300)  # the hub is done, spokes are running
    child.expect(r"\d+/400", timeout=60)
    child.expect(r"0:00:0[3-9]", timeout=60)  # spokes mid-sleep for a while: they must be woken, not waited for
    child.sendintr()  # Ctrl-C: the terminal sends SIGINT to the foreground process group
    interrupted = time.monotonic()
    code, after = finish(child)
    seconds = time.monotonic() - interrupted
    print(f"SIGINT to exit: {seconds:.2f} s; {len(after.splitlines())} lines after Ctrl-C:\n{after}")
    assert code == 130, after
    assert seconds < 60, after  # a generous bound: the run itself needed 200 s more at least
    assert not [n for n in NOISE if n in after], after
    lines = [line.strip() for line in after.splitlines() if line.strip() and "━" not in line]
    (match,) = [INTERRUPTED.search(line) for line in lines if INTERRUPTED.search(line)]
    assert match is not None
    run_id, finished, total, folder = match.groups()
    assert (run_id, total) == ("long", "400")
    assert int(finished) < 400
    ledger = json.loads((Path(folder) / "ledger.json").read_text())
    assert len(ledger) == 400
    assert sum(row["status"] != "pending" for row in ledger) == int(finished)
    assert (Path(folder) / "lambda.log").exists()
    assert len(lines) <= 3, lines  # the interrupted line, and at most the progress bar's last frame
    assert off_machine(tmp_path / "sockets.jsonl") == []


def test_ctrl_c_during_synth_is_one_line_and_exit_130(tmp_path: Path) -> None:
    home = tmp_path / "cold"  # no synth cache: the command has to synthesize
    home.mkdir()
    # The synth bundles the Lambda requirements with pip; its package index here is a loopback socket that
    # accepts and never answers, so the synth is certainly still running (Node kernel and all) at Ctrl-C,
    # and nothing goes off this machine.
    with socket.create_server(("127.0.0.1", 0)) as index:
        url = f"http://127.0.0.1:{index.getsockname()[1]}/simple"
        child = spawn(["local", "run", "--targets", "3"], home, tmp_path, PIP_INDEX_URL=url, PIP_TIMEOUT="600")
        child.expect(r"Bundling asset \S+\.\.\.", timeout=300)  # printed by the CDK from inside jsii
        child.sendintr()
        code, after = finish(child)
    # The status spinner's frames are erased in place; what stays is the one line.
    lines = [line.strip() for line in after.splitlines() if line.strip() and "cdk synth" not in line]
    assert code == 130, after
    assert not [n for n in NOISE if n in after], after
    assert lines == ["interrupted: synth stopped, nothing ran"], lines
    assert off_machine(tmp_path / "sockets.jsonl") == []
