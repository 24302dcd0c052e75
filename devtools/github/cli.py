"""`python -m devtools.github serve`: the local GitHub-compatible REST API for the demo, benchmark and tests."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from devtools.github.model import RepoSpec
from devtools.github.server import GitHubServer
from devtools.github.worlds import load_world, org_world
from hubspoke.console import bad_input as _bad_input
from hubspoke.console import out_console

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="The local GitHub-compatible server (a test double)."
)
OWNER_RE = re.compile(r"[A-Za-z0-9_.-]+")


@app.callback()
def main() -> None:
    """The local GitHub-compatible server (a test double); a group, so the command is spelled `serve`."""


def token_from_env(name: str | None) -> str | None:
    """The token from the named environment variable (None when no name is given); exit 2 when it is unset."""
    if name is None:
        return None
    token = os.environ.get(name)
    if not token:
        raise _bad_input(f"--token-env: environment variable {name} is not set or empty")
    return token


def build_server(
    *,
    world: Path | None = None,
    org: str = "acme",
    repos: int = 75,
    protected: int = 0,
    archived: int = 0,
    forks: int = 0,
    token: str | None = None,
    rate_limit: int = 5000,
    rate_window: int = 3600,
    secondary_share: float = 0.0,
    retry_after: int = 60,
    latency_ms: int = 0,
    seed: int = 0,
    time_scale: float = 1.0,
    port: int = 0,
) -> GitHubServer:
    """The server the command would run (not started); bad options exit 2 with a message naming the option."""
    _check_numbers(
        secondary_share=secondary_share,
        time_scale=time_scale,
        rate_window=rate_window,
        port=port,
        counts=(
            ("--repos", repos),
            ("--protected", protected),
            ("--archived", archived),
            ("--forks", forks),
            ("--rate-limit", rate_limit),
            ("--retry-after", retry_after),
            ("--latency-ms", latency_ms),
        ),
    )
    specs = _world_specs(world) if world is not None else _org_specs(org, repos, protected, archived, forks)
    try:
        return GitHubServer(
            specs,
            token=token,
            rate_limit=rate_limit,
            rate_window_seconds=rate_window,
            secondary_share=secondary_share,
            retry_after_seconds=retry_after,
            seed=seed,
            latency_ms=latency_ms,
            time_scale=time_scale,
            port=port,
        )
    except ValueError as err:
        raise _bad_input(str(err)) from None


def _check_numbers(
    *, secondary_share: float, time_scale: float, rate_window: int, port: int, counts: tuple[tuple[str, int], ...]
) -> None:
    if not 0.0 <= secondary_share <= 1.0:
        raise _bad_input(f"--secondary-share: must be between 0 and 1, got {secondary_share}")
    if time_scale <= 0:
        raise _bad_input(f"--time-scale: must be > 0, got {time_scale}")
    for option, value in counts:
        if value < 0:
            raise _bad_input(f"{option}: must be >= 0, got {value}")
    if rate_window <= 0:
        raise _bad_input(f"--rate-window: must be > 0, got {rate_window}")
    if not 0 <= port <= 65535:
        raise _bad_input(f"--port: must be 0..65535, got {port}")


def _world_specs(world: Path) -> list[RepoSpec]:
    try:
        return load_world(world)
    except OSError as err:
        raise _bad_input(f"--world: cannot read {world}: {err.strerror}") from None
    except ValueError as err:
        raise _bad_input(f"--world: {err}") from None


def _org_specs(org: str, repos: int, protected: int, archived: int, forks: int) -> list[RepoSpec]:
    if not OWNER_RE.fullmatch(org):
        raise _bad_input(f"--org: {org!r} is not a valid owner name (letters, digits, '.', '_', '-')")
    if protected + archived + forks > repos:
        raise _bad_input(
            f"--protected/--archived/--forks: {protected} + {archived} + {forks} is more than --repos {repos}"
        )
    try:
        return org_world(org, repos, protected=protected, archived=archived, forks=forks)
    except ValueError as err:
        raise _bad_input(f"--org: {err}") from None


def serve(server: GitHubServer, url_file: Path | None = None, stop: threading.Event | None = None) -> None:
    """Start the server, announce it, and serve until `stop` is set, Ctrl-C or SIGTERM; then stop cleanly."""
    stopping = stop if stop is not None else threading.Event()
    try:
        server.start()
    except OSError as err:
        raise _bad_input(f"--port: cannot listen: {err.strerror}") from None
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    try:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        if url_file is not None:
            # Write then rename, so a script polling for the file never reads half a URL.
            partial = url_file.with_name(url_file.name + ".partial")
            partial.write_text(server.url + "\n")
            partial.replace(url_file)
        out_console.print(
            f"GitHub-compatible server on {server.url} ({len(server.repo_names())} repositories)",
            highlight=False,
            soft_wrap=True,
        )
        # A timeout keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()


_SCALE_HELP = "Real seconds per simulated second (rate-limit windows, Retry-After, latency)."


@app.command("serve")
def serve_command(
    world: Annotated[
        Path | None, typer.Option("--world", help="Repositories from a JSON file {'repos': [...]} (else generated).")
    ] = None,
    org: Annotated[str, typer.Option("--org", help="Owner of the generated repositories.")] = "acme",
    repos: Annotated[int, typer.Option("--repos", help="Generate N repositories (repo-001 ...).")] = 75,
    protected: Annotated[int, typer.Option("--protected", help="How many generated repos protect every branch.")] = 0,
    archived: Annotated[int, typer.Option("--archived", help="How many generated repos are archived.")] = 0,
    forks: Annotated[int, typer.Option("--forks", help="How many generated repos are forks.")] = 0,
    token_env: Annotated[
        str | None,
        typer.Option("--token-env", help="Require the token in this environment variable (default: accept any)."),
    ] = None,
    rate_limit: Annotated[int, typer.Option("--rate-limit", help="Core requests per window.")] = 5000,
    rate_window: Annotated[int, typer.Option("--rate-window", help="Core window length, simulated seconds.")] = 3600,
    secondary_share: Annotated[
        float, typer.Option("--secondary-share", help="Share of writes answered with a secondary rate limit (0..1).")
    ] = 0.0,
    retry_after: Annotated[int, typer.Option("--retry-after", help="Retry-After of secondary limits, seconds.")] = 60,
    latency_ms: Annotated[int, typer.Option("--latency-ms", help="Latency of every request, simulated ms.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the secondary-limit draws.")] = 0,
    # The same default as `hubspoke local run`: the gate's scaled wait for the reset must see the reset.
    time_scale: Annotated[float, typer.Option("--time-scale", help=_SCALE_HELP)] = 0.01,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = 0,
    url_file: Annotated[
        Path | None, typer.Option("--url-file", help="Write the URL to this file once listening.")
    ] = None,
) -> None:
    """Serve a GitHub-compatible REST API on 127.0.0.1 for a simulated organisation, until Ctrl-C."""
    server = build_server(
        world=world,
        org=org,
        repos=repos,
        protected=protected,
        archived=archived,
        forks=forks,
        token=token_from_env(token_env),
        rate_limit=rate_limit,
        rate_window=rate_window,
        secondary_share=secondary_share,
        retry_after=retry_after,
        latency_ms=latency_ms,
        seed=seed,
        time_scale=time_scale,
        port=port,
    )
    serve(server, url_file)
