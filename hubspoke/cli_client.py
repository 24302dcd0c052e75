"""Operator commands (run, runs, follow, report, rerun, stop) on a deployed stack (`--stack`) or the embedded
engine: the same RunClient code on both (hubspoke/client)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hubspoke.client.deployment import Deployment, DeploymentError, discover, embedded
from hubspoke.client.runs import RunClient
from hubspoke.console import shown
from hubspoke.engine import Progress
from hubspoke.report import render_summary
from hubspoke.stop_early import (
    ADAPTIVE_HELP,
    CANARY_HELP,
    CANARY_PAUSE_HELP,
    CIRCUIT_BREAKER_HELP,
    StopEarlyError,
    stop_early_fields,
)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
out = Console()
err = Console(stderr=True)

Stack = Annotated[str | None, typer.Option("--stack", help="A deployed HubSpoke stack (absent: embedded engine).")]
Region = Annotated[str | None, typer.Option("--region", help="The stack's region.")]
Profile = Annotated[str | None, typer.Option("--profile", help="The AWS profile to use.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def _fail(message: str) -> typer.Exit:
    # Messages carry data (a refused request's problems name bad ids and values): shown, never read as markup.
    err.print(shown(message), highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def state_dir() -> Path:
    """Where embedded runs, their logs and the synth cache live: HUBSPOKE_HOME, else .hubspoke here."""
    return Path(os.environ.get("HUBSPOKE_HOME", ".hubspoke"))


@contextmanager
def _operated(
    stack: str | None, region: str | None, profile: str | None, *, served: bool = True
) -> Iterator[Deployment]:
    """The Deployment the command operates on (see _resolved); a run that does not exist is one line, exit 2."""
    from botocore.exceptions import ClientError

    try:
        with _resolved(stack, region, profile, served=served) as deployment:
            yield deployment
    except ClientError as problem:
        if problem.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
            raise
        arn = str(problem.response.get("Error", {}).get("Message", "")).rstrip("'")
        where = f"stack {stack}" if stack else f"the embedded engine's kept runs ({state_dir() / 'runs'})"
        raise _fail(f"no run {arn.rpartition(':')[2]!r} in {where}: `hubspoke runs` lists them") from None


@contextmanager
def _resolved(
    stack: str | None, region: str | None, profile: str | None, *, served: bool = True
) -> Iterator[Deployment]:
    """The Deployment a command operates on: the stack named, else the engine running in this process, else
    (if `served`) an engine another process serves (engine.json), else a new engine here, loaded with the runs
    earlier invocations kept. `served=False` for commands that start runs: a run belongs to its own engine."""
    if stack is not None:
        try:
            deployment = discover(stack, region=region, profile=profile)
        except DeploymentError as problem:
            raise _fail(str(problem)) from None
        yield deployment
        return
    running = embedded()
    if running is not None:
        yield running
        return
    from hubspoke.engine.serve import live_engine

    home = state_dir()
    live = live_engine(home) if served else None
    if live is not None:
        # The served engine is discovered as a deployed stack is: DescribeStacks, at its loopback endpoint.
        try:
            served_deployment = discover(
                str(live["stack_name"]), region=str(live["region"]), endpoint_url=str(live["endpoint"]),
                local_credentials=True,
            )  # fmt: skip
        except DeploymentError:
            served_deployment = None  # it is shutting down: an engine here holds the runs it keeps
        if served_deployment is not None:
            yield served_deployment
            return
    from hubspoke.engine import LocalEngine

    with LocalEngine(_engine_stack(home), log_path=home / "engine.log", state_dir=home) as engine:
        yield engine.deployment()


def _engine_stack(home: Path) -> Any:
    """The synthesized stack (from the synth cache when this checkout's sources are unchanged)."""
    from hubspoke.cli import _synthesize
    from hubspoke.synth import synthesize_cached

    _synthesize(home / "synth", None)
    return synthesize_cached(home / "synth", None)


def read_json_option(value: str, name: str) -> Any:
    """A JSON option's value, or the file it names as `@path`."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as problem:
            raise _fail(f"{name}: cannot read {value[1:]}: {problem.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        raise _fail(f"{name}: not valid JSON ({problem.msg} at position {problem.pos})") from None


def _show(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(summary, default=str))
    else:
        render_summary(out, summary)
    invalid = summary.get("error") in ("InvalidRunRequest",)
    raise typer.Exit(EXIT_BAD_INPUT if invalid else EXIT_OK if summary["outcome"] == "succeeded" else EXIT_FAILED)


def _progress_line(progress: Progress) -> None:
    total = progress.total if progress.total is not None else "?"
    err.print(
        f"[dim]{progress.status}: {progress.done}/{total} done, {progress.succeeded} succeeded, "
        f"{progress.failed} failed[/]",
        highlight=False,
    )


def _follow(client: RunClient, run_id: str, as_json: bool, poll_seconds: float) -> dict[str, Any]:
    try:
        return client.follow(run_id, on_progress=None if as_json else _progress_line, poll_seconds=poll_seconds)
    except KeyboardInterrupt:
        err.print(f"detached from run {run_id}; it goes on (`hubspoke stop {run_id}` stops it)", highlight=False)
        raise typer.Exit(130) from None


TargetsFile = Annotated[Path | None, typer.Option("--targets-file", help="JSON array or CSV (id column).")]
SourceJson = Annotated[str | None, typer.Option("--source-json", help="A source object (or @file).")]
Operation = Annotated[str, typer.Option("--operation")]
ParamsJson = Annotated[str, typer.Option("--params-json", help="JSON object, or @file.")]
RunId = Annotated[str | None, typer.Option("--run-id")]
MaxConcurrency = Annotated[int | None, typer.Option("--max-concurrency", min=1, max=10_000)]
Threshold = Annotated[float | None, typer.Option("--failure-threshold", min=0.0, max=100.0, help="Percent.")]
WaveSize = Annotated[int | None, typer.Option("--wave-size", min=1, help="Run in waves of N targets.")]
WavePause = Annotated[int | None, typer.Option("--wave-pause", min=0, max=86_400, help="Seconds between waves.")]
PollSeconds = Annotated[float, typer.Option("--poll-seconds", min=0.0)]
CanaryOption = Annotated[str | None, typer.Option("--canary", metavar="N|P%", help=CANARY_HELP)]
CanaryPause = Annotated[int | None, typer.Option("--canary-pause", min=0, max=86_400, help=CANARY_PAUSE_HELP)]
BreakerOption = Annotated[str | None, typer.Option("--circuit-breaker", metavar="K|P%", help=CIRCUIT_BREAKER_HELP)]
AdaptiveOption = Annotated[bool, typer.Option("--adaptive-concurrency", help=ADAPTIVE_HELP)]


def _options(
    run_id: str | None,
    max_concurrency: int | None,
    failure_threshold: float | None,
    wave_size: int | None,
    wave_pause: int | None,
) -> dict[str, Any]:
    """The run request's fields the command's options set (None: the stack's default)."""
    return {
        "run_id": run_id,
        "max_concurrency": max_concurrency,
        "failure_threshold_percent": failure_threshold,
        "wave_size": wave_size,
        "wave_pause_seconds": wave_pause,
    }


def _request(
    targets_file: Path | None,
    source_json: str | None,
    operation: str,
    params_json: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The run request from the command's options; the hub validates the rest (and names the field)."""
    params = read_json_option(params_json, "--params-json")
    if (targets_file is None) == (source_json is None):
        raise _fail("give exactly one of --targets-file PATH or --source-json JSON")
    source = read_json_option(source_json, "--source-json") if source_json else _static(targets_file)
    request: dict[str, Any] = {"operation": operation, "params": params, "source": source}
    request.update({key: value for key, value in options.items() if value is not None})
    return request


def run(
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    targets_file: TargetsFile = None,
    source_json: SourceJson = None,
    operation: Operation = "noop",
    params_json: ParamsJson = "{}",
    run_id: RunId = None,
    max_concurrency: MaxConcurrency = None,
    failure_threshold: Threshold = None,
    wave_size: WaveSize = None,
    wave_pause: WavePause = None,
    detach: Annotated[bool, typer.Option("--detach", help="Start and print the run id; do not follow.")] = False,
    as_json: AsJson = False,
    poll_seconds: PollSeconds = 2.0,
    canary: CanaryOption = None,
    canary_pause: CanaryPause = None,
    circuit_breaker: BreakerOption = None,
    adaptive_concurrency: AdaptiveOption = False,
) -> None:
    """Start a run (on the embedded engine, or a deployed stack with --stack) and follow it to its summary."""
    try:
        stop_early = stop_early_fields(canary, canary_pause, circuit_breaker, adaptive=adaptive_concurrency)
    except StopEarlyError as exc:
        raise _fail(str(exc)) from None
    options = {**_options(run_id, max_concurrency, failure_threshold, wave_size, wave_pause), **stop_early}
    request = _request(targets_file, source_json, operation, params_json, options)
    if stack is None and embedded() is None:
        # A new embedded engine for this run (synthesized from this checkout), operated by the same client.
        _run_embedded(request, as_json)
        return
    with _operated(stack, region, profile) as deployment:
        client = RunClient(deployment)
        started = _start(client, request)
        err.print(f"started run {started}", highlight=False)
        if detach:
            raise typer.Exit(EXIT_OK)
        summary = _follow(client, started, as_json, poll_seconds)
    _show(summary, as_json)


def plan(
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    targets_file: TargetsFile = None,
    source_json: SourceJson = None,
    operation: Operation = "noop",
    params_json: ParamsJson = "{}",
    run_id: RunId = None,
    max_concurrency: MaxConcurrency = None,
    failure_threshold: Threshold = None,
    wave_size: WaveSize = None,
    wave_pause: WavePause = None,
    as_json: AsJson = False,
    poll_seconds: PollSeconds = 1.0,
) -> None:
    """What a run would do and what it would cost on AWS: a dry run, nothing written but the plan."""
    options = {**_options(run_id, max_concurrency, failure_threshold, wave_size, wave_pause), "dry_run": True}
    request = _request(targets_file, source_json, operation, params_json, options)
    if stack is None and embedded() is None:
        with _embedded_engine(request) as (engine, run_id_):
            _show_plan(RunClient(engine.deployment()), run_id_, request, as_json, 0.1)
        return
    with _operated(stack, region, profile) as deployment:
        _show_plan(RunClient(deployment), None, request, as_json, poll_seconds)


def _show_plan(
    client: RunClient, run_id: str | None, request: dict[str, Any], as_json: bool, poll_seconds: float
) -> None:
    """Start the dry run, wait for its end (it starts no spoke), print the plan; a refused request exits 2."""
    from hubspoke.plan import plan_from_output, plan_json_text, refusal, render_plan

    started = _start(client, {**request, "run_id": run_id} if run_id else request)
    described = client.wait(started, poll_seconds=poll_seconds)
    if described["status"] != "SUCCEEDED":
        raise _fail(refusal(described.get("error"), described.get("cause")))
    found = plan_from_output(described.get("output"))
    if as_json:
        out.print(plan_json_text(found), end="", highlight=False, soft_wrap=True)
    else:
        render_plan(out, found)


def runs(
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
    prune: Annotated[
        float | None, typer.Option("--prune", min=0, help="Remove kept embedded runs older than DAYS.")
    ] = None,
) -> None:
    """Recent runs: id, status, started, totals."""
    if prune is not None:
        _prune(stack, prune)
        return
    with _operated(stack, region, profile) as deployment:
        infos = RunClient(deployment).runs()
    if as_json:
        out.print_json(json.dumps([info.__dict__ for info in infos], default=str))
        return
    for info in infos:
        totals = info.totals or {}
        counts = ", ".join(f"{k} {v}" for k, v in totals.items()) if totals else "no report yet"
        out.print(f"{info.run_id}  {info.status:<9} {info.started:%Y-%m-%d %H:%M:%S}  {counts}", highlight=False)


def follow(
    run_id: str,
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", min=0.0)] = 2.0,
) -> None:
    """Attach to a run: live progress, then the summary. Ctrl-C detaches; the run goes on."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    with _operated(stack, region, profile) as deployment:
        try:
            summary = _follow(RunClient(deployment), run_id, as_json, poll_seconds)
        except (EndpointConnectionError, ConnectionClosedError):
            if not deployment.local_credentials:
                raise
            summary = None  # the engine serving it ended: its runs are kept, read the run from there
    if summary is None:
        with _operated(stack, region, profile, served=False) as deployment:
            summary = _follow(RunClient(deployment), run_id, as_json, poll_seconds)
    _show(summary, as_json)


HtmlOption = Annotated[
    Path | None, typer.Option("--html", help="Also write the run's timeline as one self-contained HTML page.")
]


def report(
    run_id: str,
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    as_json: AsJson = False,
    html: HtmlOption = None,
) -> None:
    """The summary of a finished run, from its report."""
    with _operated(stack, region, profile) as deployment:
        client = RunClient(deployment)
        if client.describe(run_id)["status"] == "RUNNING":
            raise _fail(f"run {run_id} is still running: `hubspoke follow {run_id}` shows its progress")
        summary = client.summary(run_id)
        if html is not None:
            _write_timeline(client, run_id, summary, html)
    _show(summary, as_json)


def rerun(
    run_id: str,
    failed: Annotated[bool, typer.Option("--failed", help="The failed and lost targets of the run.")] = False,
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    params_json: Annotated[
        str | None, typer.Option("--params-json", help="Other params (JSON or @file); default: RUN's.")
    ] = None,
    as_json: AsJson = False,
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", min=0.0)] = 2.0,
) -> None:
    """A new run of exactly the targets that failed (or were lost) in RUN, with its operation and params."""
    if not failed:
        raise _fail("rerun needs --failed (the only selection there is)")
    params = read_json_option(params_json, "--params-json") if params_json else None
    # Without --stack the rerun runs on an engine of its own (here), which keeps it when it ends.
    with _operated(stack, region, profile, served=False) as deployment:
        client = RunClient(deployment)
        earlier = client.describe(run_id)
        if earlier["status"] == "RUNNING":
            raise _fail(f"run {run_id} is still running: rerun it when it has ended")
        original = json.loads(earlier["input"])
        request = {
            "operation": original.get("operation"),
            "params": params if params is not None else original.get("params", {}),
            "source": {"type": "run", "run_id": run_id, "status": ["failed", "lost"]},
        }
        started = client.start(request)
        err.print(f"started run {started}: the failed and lost targets of {run_id}", highlight=False)
        summary = _follow(client, started, as_json, poll_seconds)
    _show(summary, as_json)


def stop(run_id: str, stack: Stack = None, region: Region = None, profile: Profile = None) -> None:
    """Stop a run (StopExecution); targets already done stay done."""
    with _operated(stack, region, profile) as deployment:
        RunClient(deployment).stop(run_id)
    err.print(f"stopped run {run_id}", highlight=False)


def _prune(stack: str | None, days: float, now: datetime | None = None) -> None:
    """Remove the embedded engine's kept runs that started more than `days` ago."""
    if stack is not None:
        raise _fail("--prune removes the embedded engine's kept runs; a deployed stack keeps its own")
    from hubspoke.engine.kept_runs import RunStore

    removed = RunStore(state_dir() / "runs").prune(days, now or datetime.now(UTC))
    err.print(f"removed {len(removed)} kept run(s) older than {days:g} days", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the operator commands to the CLI."""
    app.command("run")(run)
    app.command("plan")(plan)
    app.command("runs")(runs)
    app.command("follow")(follow)
    app.command("report")(report)
    app.command("rerun")(rerun)
    app.command("stop")(stop)


@contextmanager
def _embedded_engine(request: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """A new embedded engine (synthesized from this checkout) for one request, keeping its run."""
    import time
    import uuid

    from hubspoke.cli import _prepare
    from hubspoke.engine import LocalEngine

    run_id = str(request.get("run_id") or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}")
    _, stack, run_dir = _prepare(run_id)
    with LocalEngine(stack, time_scale=0.01, log_path=run_dir / "lambda.log", state_dir=state_dir()) as engine:
        yield engine, run_id


def _run_embedded(request: dict[str, Any], as_json: bool) -> None:
    with _embedded_engine(request) as (engine, run_id):
        client = RunClient(engine.deployment())
        _start(client, {**request, "run_id": run_id})
        summary = client.follow(run_id, on_progress=None if as_json else _progress_line, poll_seconds=0.1)
        # As `hubspoke local run`: the run's timeline page next to its logs.
        _write_timeline(client, run_id, summary, state_dir() / "runs" / run_id / "report.html")
    _show(summary, as_json)


def _write_timeline(client: RunClient, run_id: str, summary: dict[str, Any], page: Path) -> None:
    """The run's timeline page (hubspoke/timeline.py), with the gate's waits from the history. The summary
    printed stays as it is: `report` with or without --html prints the same."""
    from hubspoke.report import budget_waits
    from hubspoke.timeline import write_report

    history = client.history(run_id)
    write_report(page, {**summary, "budget_waits": budget_waits(history)}, client.ledger_rows(run_id), history)
    err.print(f"timeline: {page}", highlight=False, soft_wrap=True)


def _start(client: RunClient, request: dict[str, Any]) -> str:
    """Start the run; a run id taken by another request (a run kept, or on the stack) is one line, exit 2."""
    from botocore.exceptions import ClientError

    try:
        return client.start(request)
    except ClientError as problem:
        if problem.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        taken = request.get("run_id")
        raise _fail(
            f"run {taken} exists already: choose another --run-id (`hubspoke report {taken}` shows it)"
        ) from None


def _static(targets_file: Path | None) -> dict[str, Any]:
    assert targets_file is not None
    try:
        text = targets_file.read_text(encoding="utf-8-sig")
    except OSError as problem:
        raise _fail(f"--targets-file: cannot read {targets_file}: {problem.strerror}") from None
    if targets_file.suffix.lower() == ".csv":
        import csv
        import io

        return {"type": "static", "targets": list(csv.DictReader(io.StringIO(text)))}
    try:
        return {"type": "static", "targets": json.loads(text)}
    except json.JSONDecodeError as problem:
        raise _fail(f"--targets-file: {targets_file} is not valid JSON ({problem.msg})") from None
