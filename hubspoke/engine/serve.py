"""An engine serves its moto state on loopback, so commands in other processes operate on its runs.

moto's ThreadedMotoServer answers HTTP from the same in-process backends the engine runs on (with the engine's
adaptations, which patch those backends). The engine writes `<state dir>/engine.json` (endpoint, pid and the
Deployment's names); `hubspoke follow RUN` in another terminal finds it there and makes the same boto3 calls,
with `Deployment(endpoint_url=...)`, that it makes against AWS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ENGINE_FILE = "engine.json"
LOOPBACK = "127.0.0.1"


def serve(stack: ExitStack, state_dir: Path, deployment: dict[str, str]) -> str:
    """Serve moto on a free loopback port until `stack` closes; write engine.json; returns the endpoint."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    # werkzeug logs a line per request; the engine's terminal shows the run, not its followers' polls.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    stack.callback(server.stop)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    path = state_dir / ENGINE_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"endpoint": endpoint, "pid": os.getpid(), **deployment}, indent=2) + "\n")
    temporary.replace(path)  # whole, or not at all: a reader never sees half a file
    stack.callback(_remove_if_ours, path)
    return endpoint


def _remove_if_ours(path: Path) -> None:
    # Another engine started since may have written its own; leave that one.
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def live_engine(state_dir: Path) -> dict[str, Any] | None:
    """engine.json's contents if the engine it names is alive (its pid runs and its port answers), else None."""
    try:
        found: dict[str, Any] = json.loads((state_dir / ENGINE_FILE).read_text())
        pid, endpoint = int(found["pid"]), str(found["endpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None  # this process's own engine is operated in-process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    host, _, port = endpoint.removeprefix("http://").rpartition(":")
    if host != LOOPBACK:
        return None
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return found
    except OSError:
        return None
