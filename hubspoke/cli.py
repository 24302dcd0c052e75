"""The `hubspoke` command line. Exit codes: 0 run succeeded, 1 run failed, 2 bad usage or bad input."""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from hubspoke import localnet
from hubspoke.console import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    err_console,
    labelled,
    out_console,
)
from hubspoke.console import bad_input as _bad_input
from hubspoke.report import budget_waits, build_summary, render_summary
from hubspoke.stop_early import (
    ADAPTIVE_HELP,
    CANARY_HELP,
    CANARY_PAUSE_HELP,
    CIRCUIT_BREAKER_HELP,
    StopEarlyError,
    stop_early_fields,
)

if TYPE_CHECKING:
    from hubspoke.engine import LocalEngine
    from hubspoke.world import World

INVALID_INPUT_ERRORS = ("InvalidRunRequest",)
# Same rule as the hub's (lambdas/shared/models.py); checked here too because the id names a local folder.
RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Run one operation across many targets.")
local = typer.Typer(no_args_is_help=True, help="Run on the embedded local engine (moto, in-process).")
app.add_typer(local, name="local")
F = TypeVar("F", bound=Callable[..., Any])


SYNTH_STOPPED = "interrupted: synth stopped, nothing ran"


class _CtrlC:
    """What Ctrl-C stops: during a run the engine stops it (the handler only sets a flag the run polls,
    so no exception lands inside moto or a lock); anywhere else it is a KeyboardInterrupt, caught below."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.stage = SYNTH_STOPPED  # the one line a KeyboardInterrupt prints, for where the command is

    def handle(self, signum: int, frame: Any) -> None:
        if self.engine is not None:
            self.engine.interrupt()
            return
        raise KeyboardInterrupt

    @contextmanager
    def during_run(self, engine: Any) -> Iterator[None]:
        self.engine = engine
        try:
            yield
        finally:
            self.engine = None


_CTRL_C = _CtrlC()


def _interruptible(command: F) -> F:
    """Ctrl-C anywhere in the command: one line on stderr, exit 130, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, _CTRL_C.handle) if in_main else None
        _CTRL_C.stage, _CTRL_C.engine = SYNTH_STOPPED, None
        try:
            # The whole command, not only the engine's lifetime: a late thread of a stopped run stays refused.
            with localnet.guarded():
                return command(*args, **kwargs)
        except KeyboardInterrupt:
            err_console.print(_CTRL_C.stage, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)

    return wrapper  # type: ignore[return-value]


def _interrupted_line(engine: Any, run_id: str, run_dir: Path) -> str:
    """The ledger as it stood when the run stopped, saved beside the logs, and the line saying so."""
    rows = engine.ledger(run_id)
    (run_dir / "ledger.json").write_text(json.dumps(rows, indent=1) + "\n")
    finished = sum(row.get("status") != "pending" for row in rows)
    return (
        f"interrupted: run {run_id} stopped, {finished} of {len(rows)} targets finished; ledger and logs in {run_dir}"
    )


def _targets_source(targets: int | None, targets_file: Path | None) -> tuple[bytes, str]:
    """The target list as an object to upload, and its format."""
    if targets is not None:
        width = max(4, len(str(targets)))
        body = json.dumps([{"id": f"target-{i:0{width}d}"} for i in range(1, targets + 1)])
        return body.encode(), "json"
    assert targets_file is not None
    try:
        data = targets_file.read_bytes()
    except OSError as err:
        raise _bad_input(f"--targets-file: cannot read {targets_file}: {err.strerror}") from None
    return data, "csv" if targets_file.suffix.lower() == ".csv" else "json"


def _params(params_json: str) -> dict[str, Any]:
    """The params object, given as JSON or as `@path` of a JSON file (as `hubspoke run` takes them)."""
    if params_json.startswith("@"):
        try:
            params_json = Path(params_json[1:]).read_text()
        except OSError as err:
            raise _bad_input(f"--params-json: cannot read {params_json[1:]}: {err.strerror}") from None
    try:
        params = json.loads(params_json)
    except json.JSONDecodeError as err:
        raise _bad_input(f"--params-json: not valid JSON ({err.msg} at position {err.pos})") from None
    except RecursionError:
        raise _bad_input("--params-json: nests too deeply to read") from None
    if not isinstance(params, dict):
        raise _bad_input("--params-json: must be a JSON object")
    return params


def _lambda_code() -> None:
    """Put the project's Lambda code on sys.path (as the engine does with the synthesized asset), so the
    CLI checks a request with the hub's own models before anything is synthesized or started."""
    from hubspoke.synth import PROJECT_ROOT

    lambdas = str(PROJECT_ROOT / "lambdas")
    if lambdas not in sys.path:
        sys.path.insert(0, lambdas)


def _context(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's context; a file a person broke is one line and exit 2, not a traceback."""
    from hubspoke.synth import PROJECT_ROOT, project_context

    path = PROJECT_ROOT / "cdk.json"
    try:
        return project_context(overrides)
    except OSError as err:
        raise _bad_input(f"cdk.json: cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise _bad_input(
            f"cdk.json: {path} is not valid JSON ({err.msg}, line {err.lineno} column {err.colno})"
        ) from None
    except (KeyError, TypeError, AttributeError):
        raise _bad_input(f'cdk.json: {path} must be a JSON object with a "context" object') from None


def _check_request(request: dict[str, Any]) -> None:
    """The hub's own request validation (operation, its Params model, concurrency, waves), run here first."""
    _lambda_code()
    from hub.logic import validate_request
    from shared.errors import InvalidRunRequest

    try:
        validate_request(request, str(request.get("run_id", "run")))
    except InvalidRunRequest as err:
        raise _bad_input(_one_line(err.problems)) from None


def _one_line(problems: list[str]) -> str:
    return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def _check_targets_file(path: Path, body: bytes, fmt: str) -> None:
    """The targets file as the hub will read it: an 'id' for every target, unique, at least one target.
    Errors name the user's file and what was found in it, not the object the engine would upload."""
    _lambda_code()
    from collections import Counter

    from pydantic import ValidationError

    from shared.models import MAX_TARGET_DEPTH, Target, field_problems, nesting_depth

    name = f"--targets-file: {path}"
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad_input(f"{name} is not UTF-8 text") from None
    if not text.strip():
        raise _bad_input(f"{name} is empty: give a CSV with an 'id' column or a JSON array of objects with an 'id'")
    rows = _targets_file_rows(name, text, fmt)
    if not rows:
        raise _bad_input(f"{name} holds no targets")
    ids: list[str] = []
    for index, row in enumerate(rows):
        where = f"line {index + 2}" if fmt == "csv" else f"[{index}]"
        if not isinstance(row, dict) or "id" not in row:
            found = ", ".join(row) if isinstance(row, dict) else type(row).__name__
            raise _bad_input(f"{name}: {where} has no 'id' (found: {found or 'nothing'})")
        too_deep = [str(k) for k, v in row.items() if nesting_depth(v) >= MAX_TARGET_DEPTH]
        if too_deep:
            raise _bad_input(f"{name}: {where}.{too_deep[0]}: nests deeper than {MAX_TARGET_DEPTH} levels")
        try:
            ids.append(Target.model_validate(row).id)
        except ValidationError as err:
            raise _bad_input(f"{name}: {where}: {_one_line(field_problems(err))}") from None
    duplicates = [target_id for target_id, n in Counter(ids).items() if n > 1]
    if duplicates:
        shown = ", ".join(repr(d) for d in duplicates[:10])
        raise _bad_input(f"{name}: duplicate target ids: {shown}{' ...' if len(duplicates) > 10 else ''}")


def _targets_file_rows(name: str, text: str, fmt: str) -> list[Any]:
    """The rows of a targets file (CSV with an 'id' column, or a JSON array), or one bad-input line naming it."""
    rows: list[Any]
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        try:
            columns = [c for c in (reader.fieldnames or []) if c]
            if "id" not in columns:
                raise _bad_input(f"{name} has no 'id' column (columns found: {', '.join(columns) or 'none'})")
            rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
        except csv.Error as err:  # e.g. a field over the csv module's 131,072-character limit
            raise _bad_input(f"{name} is not readable CSV (after line {reader.line_num}: {err})") from None
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise _bad_input(f"{name} is not valid JSON ({err.msg}, line {err.lineno})") from None
        except RecursionError:  # Python's decoder recurses: about 1,000 levels stop it
            raise _bad_input(f"{name} nests too deeply to read (no target nests this deep)") from None
        if not isinstance(rows, list):
            raise _bad_input(f"{name} must hold a JSON array of objects with an 'id', not a {type(rows).__name__}")
    return rows


_REPEAT_HELP = (
    "Run the same request N times in the same world, each a run of its own (<run-id>-2, ...): what a rerun "
    "changes. --summary-json then writes a list."
)
_TARGETS_FILE_HELP = "JSON array of objects with 'id', or CSV with an 'id' column."
_THRESHOLD_HELP = "Fail the run when the failed percentage exceeds this (default: cdk.json)."
_SCALE_HELP = "Real seconds per simulated second (retries, waits, sleep_ms, timeouts)."
_WORLD_HELP = (
    "A local fleet to run against: ECS clusters and services, in this and other accounts and regions "
    "(examples/world.json, examples/fleet-accounts.json)."
)
_SOURCE_HELP = 'A discovery source instead of a target list, e.g. \'{"type": "github-org", "org": "acme"}\'.'
_GITHUB_URL_HELP = "GitHub API URL for this run (a local GitHub double, GitHub Enterprise); token from $GITHUB_TOKEN."
_DRY_RUN_HELP = "Plan only: discover and validate, print the plan and its AWS cost estimate; run nothing."
GITHUB_FILE_SYNC = "github-file-sync"
GITHUB_TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - the variable's name, not a token


def _run_request(
    request: dict[str, Any],
    source: dict[str, Any],
    *,
    max_concurrency: int | None,
    failure_threshold: float | None,
    wave_size: int | None,
    wave_pause: int,
    stop_early: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run request with the options given (the others left to the stack's defaults), checked."""
    request = {**request, "source": source, **(stop_early or {})}
    if max_concurrency is not None:
        request["max_concurrency"] = max_concurrency
    if failure_threshold is not None:
        request["failure_threshold_percent"] = failure_threshold
    if wave_size is not None:
        request.update(wave_size=wave_size, wave_pause_seconds=wave_pause)
    _check_request(request)
    return request


@local.command("run")
@_interruptible
def local_run(
    targets: Annotated[
        int | None, typer.Option("--targets", min=0, max=100_000, help="Generate N targets (target-0001 ...).")
    ] = None,
    targets_file: Annotated[Path | None, typer.Option("--targets-file", help=_TARGETS_FILE_HELP)] = None,
    operation: Annotated[str, typer.Option("--operation", help="Operation to run on every target.")] = "noop",
    params_json: Annotated[
        str, typer.Option("--params-json", help="The operation's params, a JSON object (or @file).")
    ] = "{}",
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", min=1, max=10_000, help="Spokes at once (default: cdk.json).")
    ] = None,
    failure_threshold: Annotated[
        float | None, typer.Option("--failure-threshold", min=0, max=100, help=_THRESHOLD_HELP)
    ] = None,
    time_scale: Annotated[float, typer.Option("--time-scale", min=0.0001, max=10, help=_SCALE_HELP)] = 0.01,
    summary_json: Annotated[Path | None, typer.Option("--summary-json", help="Also write the summary as JSON.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id (default: generated).")] = None,
    wave_size: Annotated[
        int | None, typer.Option("--wave-size", min=1, help="Run the targets in waves of N (one Map per wave).")
    ] = None,
    wave_pause: Annotated[
        int, typer.Option("--wave-pause", min=0, max=86400, help="Seconds (simulated) between waves.")
    ] = 0,
    source_json: Annotated[str | None, typer.Option("--source-json", help=_SOURCE_HELP)] = None,
    github_url: Annotated[str | None, typer.Option("--github-url", help=_GITHUB_URL_HELP)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_DRY_RUN_HELP)] = False,
    world: Annotated[Path | None, typer.Option("--world", help=_WORLD_HELP)] = None,
    canary: Annotated[str | None, typer.Option("--canary", metavar="N|P%", help=CANARY_HELP)] = None,
    canary_pause: Annotated[
        int | None, typer.Option("--canary-pause", min=0, max=86400, help=CANARY_PAUSE_HELP)
    ] = None,
    circuit_breaker: Annotated[
        str | None, typer.Option("--circuit-breaker", metavar="K|P%", help=CIRCUIT_BREAKER_HELP)
    ] = None,
    adaptive_concurrency: Annotated[bool, typer.Option("--adaptive-concurrency", help=ADAPTIVE_HELP)] = False,
    repeat: Annotated[int, typer.Option("--repeat", min=1, max=10, help=_REPEAT_HELP)] = 1,
) -> None:
    """Synthesize the stack and run its state machine on moto, with the handlers in-process."""
    _context()
    try:
        stop_early = stop_early_fields(canary, canary_pause, circuit_breaker, adaptive=adaptive_concurrency)
    except StopEarlyError as err:
        raise _bad_input(str(err)) from None
    fleet = _world(world) if world is not None else None
    _kubernetes_api(fleet)  # a world with EKS clusters needs devtools/: said before seconds of synth
    if sum(x is not None for x in (targets, targets_file, source_json)) != 1:
        raise _bad_input("give exactly one of --targets N, --targets-file PATH or --source-json JSON")
    source_spec = _source(source_json) if source_json is not None else None
    body, fmt = _targets_source(targets, targets_file) if source_spec is None else (b"", "json")
    params = _params(params_json)
    overrides, github_token = _github(github_url, operation, source_spec)
    run_id = _local_run_id(run_id, repeat, dry_run)
    # Everything a person can get wrong is checked here, before seconds of synth and an engine start.
    if targets_file is not None:
        _check_targets_file(targets_file, body, fmt)
    request = _run_request(
        {"run_id": run_id, "operation": operation, "params": params, "dry_run": dry_run},
        source_spec or {"type": "s3-manifest", "bucket": "hubspoke-local", "key": f"inputs/{fmt}"},
        max_concurrency=max_concurrency,
        failure_threshold=failure_threshold,
        wave_size=wave_size,
        wave_pause=wave_pause,
        stop_early=stop_early,
    )
    from hubspoke.engine import LocalEngine

    settings, stack, run_dir = _prepare(run_id, overrides)
    _CTRL_C.stage = f"interrupted: run {run_id} stopped before it started, nothing ran"
    engine_options: dict[str, Any] = {
        "github_token": github_token,
        "allowed_hosts": _remote_github(settings, github_token),
        "state_dir": run_dir.parent.parent,  # its runs are kept there for `hubspoke runs/report/rerun`
    }
    interrupted = None
    runs: list[LocalRunEnd] = []
    with (
        _kubernetes_double(fleet) as kubernetes,  # the world's EKS clusters, when it has any
        LocalEngine(stack, time_scale=time_scale, log_path=run_dir / "lambda.log", **engine_options) as engine,
    ):
        targets_input = None if source_spec is not None else (f"{run_id}/targets.{fmt}", body)
        _put_inputs(engine, fleet, request, targets_input, kubernetes)
        for n in range(1, repeat + 1):
            # --repeat: the same request again in the same world, as a run of its own (<run-id>-2, ...).
            this_run = run_id if n == 1 else f"{run_id}-{n}"
            result = _run_with_progress(engine, {**request, "run_id": this_run}, quiet)
            if result.interrupted:
                # A second Ctrl-C while the ledger is saved still gets one line.
                _CTRL_C.stage = f"interrupted: run {this_run} stopped; logs in {run_dir}"
                interrupted = _interrupted_line(engine, this_run, run_dir)
                break
            if dry_run:
                _show_plan(
                    result, engine.sfn.describe_execution(executionArn=result.execution_arn).get("output"), summary_json
                )
            _CTRL_C.stage = f"interrupted: run {this_run} had ended; its summary is not shown (logs in {run_dir})"
            runs.append(_local_summary(engine, result, time_scale, operation))
    if interrupted is not None:
        err_console.print(interrupted, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    _end_local_runs(runs, settings, run_dir, summary_json)


def _local_run_id(run_id: str | None, repeat: int, dry_run: bool) -> str:
    """--run-id checked (as the hub's rule, with room for --repeat's suffixes), or a new one."""
    if run_id is not None and not RUN_ID_RE.fullmatch(run_id):
        raise _bad_input("--run-id: 1-80 characters: letters, digits, '.', '_' or '-', starting with a letter or digit")
    if run_id is not None and repeat > 1 and len(run_id) > 77:
        raise _bad_input("--run-id: at most 77 characters with --repeat (the runs after the first end in -2, -3, ...)")
    if repeat > 1 and dry_run:
        raise _bad_input("--repeat: a --dry-run runs nothing to repeat")
    return run_id or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


class LocalRunEnd(NamedTuple):
    """An ended local run: its result, summary, ledger rows and execution history (for its timeline page)."""

    result: Any
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    history: list[dict[str, Any]]


def _local_summary(engine: Any, result: Any, time_scale: float, operation: str) -> LocalRunEnd:
    """An ended local run's summary (its budget waits, a file sync's pull requests)."""
    rows = engine.ledger(result.run_id)
    summary = build_summary(result, rows, time_scale)
    history = engine.history(result.execution_arn)
    summary["budget_waits"] = budget_waits(history)
    if operation == GITHUB_FILE_SYNC:
        pulls = {"pull_request": "pull_request", "url": "pr_url"}
        summary["pull_requests"] = _per_target(rows, "repository", pulls)
    return LocalRunEnd(result, summary, rows, history)


def _end_local_runs(runs: list[LocalRunEnd], settings: Any, run_dir: Path, summary_json: Path | None) -> None:
    """Each run's alarms and summary printed (and written), then the exit code: the last run's outcome."""
    from hubspoke.alarms import evaluate_alarms
    from hubspoke.timeline import write_report  # only once a run has ended: every command imports this module
    from stacks.alarms import alarm_specs

    repeat = len(runs)
    pages = []
    for n, (result, summary, rows, history) in enumerate(runs, 1):
        summary["alarms"] = [a.as_dict() for a in evaluate_alarms(alarm_specs(settings.monitoring), result)]
        if repeat > 1:
            out_console.print(f"[bold]Run {n} of {repeat}[/] ({summary['run_id']})")
        render_summary(out_console, summary)
        if "pull_requests" in summary:
            _render_pull_requests(summary["pull_requests"])
        # The run's timeline page, next to its logs (hubspoke/timeline.py); `hubspoke report RUN --html` writes it too.
        pages.append(write_report(run_dir / ("report.html" if n == 1 else f"report-{n}.html"), summary, rows, history))
    err_console.print(f"[dim]Lambda logs: {run_dir / 'lambda.log'}[/]")
    for page in pages:
        err_console.print(f"[dim]Timeline: {page}[/]", soft_wrap=True)  # one line: a path to copy
    summaries = [end.summary for end in runs]
    if summary_json is not None:
        summary_json.write_text(json.dumps(summaries if repeat > 1 else summaries[0], indent=2) + "\n")
    if any(end.result.error in INVALID_INPUT_ERRORS for end in runs):
        raise typer.Exit(EXIT_BAD_INPUT)
    # As for `local event`'s deliveries: the last run says how the command ends.
    raise typer.Exit(EXIT_OK if summaries[-1]["outcome"] == "succeeded" else EXIT_FAILED)


def _show_plan(result: Any, output: str | None, plan_json: Path | None) -> None:
    """A dry run's plan (exit 0), or the line saying why the hub refused it (exit 2 for a bad request)."""
    from hubspoke.plan import plan_from_output, plan_json_text, refusal, render_plan

    if result.status != "SUCCEEDED":
        err_console.print(labelled("error:", "bold red", refusal(result.error, result.cause)), highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT if result.error in INVALID_INPUT_ERRORS else EXIT_FAILED)
    plan = plan_from_output(output)
    render_plan(out_console, plan)
    if plan_json is not None:
        plan_json.write_text(plan_json_text(plan))
    raise typer.Exit(EXIT_OK)


_REPOSITORY_HELP = (
    "Watch this ECR repository for image pushes in this run, as image_push.repositories in cdk.json would "
    "(repeatable; added to cdk.json's)."
)
_RULE_DISABLED = (
    "The image-push rule is disabled: no image_push.repositories or repository_prefixes are set in cdk.json "
    "(a first deploy arms nothing). Watch one here with --repository NAME or --repository-prefix PREFIX."
)


@local.command("event")
@_interruptible
def local_event(
    event_file: Annotated[Path, typer.Argument(help="An EventBridge event (JSON), e.g. an ECR image push.")],
    world: Annotated[Path, typer.Option("--world", help="The local fleet: clusters, services, images (JSON).")],
    deliveries: Annotated[int, typer.Option("--deliveries", min=1, max=10, help="Deliver the event N times.")] = 1,
    time_scale: Annotated[float, typer.Option("--time-scale", min=0.0001, max=10, help=_SCALE_HELP)] = 0.01,
    summary_json: Annotated[Path | None, typer.Option("--summary-json", help="Also write the summary as JSON.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    repository: Annotated[list[str] | None, typer.Option("--repository", help=_REPOSITORY_HELP)] = None,
    repository_prefix: Annotated[
        list[str] | None, typer.Option("--repository-prefix", help="...and repository name prefixes (repeatable).")
    ] = None,
    eks_clusters: Annotated[list[str] | None, typer.Option("--eks-clusters", help=_EKS_CLUSTERS_HELP)] = None,
) -> None:
    """Feed an event through the synthesized rule (pattern, input transformer) into the workflow."""
    from hubspoke.engine import LocalEngine
    from hubspoke.synth import watching
    from hubspoke.trigger import matches, rules_targeting, transform

    _context()
    overrides = watching(repository or [], repository_prefix or [])
    event = _json_file(event_file, "EVENT_FILE")
    fleet = _world(world)
    _kubernetes_api(fleet)  # a world with EKS clusters needs devtools/: said before seconds of synth
    if eks_clusters:
        overrides = _with_eks_clusters(overrides, eks_clusters, fleet)
    _, stack, run_dir = _prepare(f"event-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}", overrides)
    _CTRL_C.stage = "interrupted: stopped before the event's run started, nothing ran"
    (machine_id,) = stack.resources("AWS::StepFunctions::StateMachine")
    interrupted = None
    kept = run_dir.parent.parent  # its run is kept there (adaptation `kept-runs`)
    with (
        _kubernetes_double(fleet) as kubernetes,
        LocalEngine(stack, time_scale=time_scale, log_path=run_dir / "lambda.log", state_dir=kept) as engine,
    ):
        services = _load_world(engine, fleet, kubernetes)
        if fleet.index:
            engine.runtime.invoke(engine.function_named("indexer."), "{}")
        eks = fleet.eks_places()
        workloads = f", {sum(len(c.workloads) for _, _, c in eks)} workloads in {len(eks)} EKS clusters" if eks else ""
        err_console.print(
            f"world: {services} services in {len(fleet.clusters)} clusters{workloads}"
            f"{', indexed' if fleet.index else ', no index (the hub will scan live)'}"
        )
        rule = next((r for r in rules_targeting(stack, machine_id) if matches(r, event)), None)
        if rule is None:
            out_console.print("No rule matched the event: nothing started.")
            if any(r.get("State") == "DISABLED" for r in rules_targeting(stack, machine_id)):
                out_console.print(_RULE_DISABLED, highlight=False)
            raise typer.Exit(EXIT_OK)
        out_console.print(f"Rule matched: {rule.get('Description', '')}")
        # One run per rule target: the ECS restart, and with image_push.eks_clusters the Kubernetes one.
        requests = [transform(target, event) for target in rule["Targets"]]
        summaries = []
        for delivery, request in ((d, r) for r in requests for d in range(1, deliveries + 1)):
            # EventBridge names executions itself; the run id comes from the event, so deliveries share it.
            result = _run_with_progress(engine, request, quiet, execution_name=f"event-{uuid.uuid4().hex[:12]}")
            if result.interrupted:
                _CTRL_C.stage = f"interrupted: run {result.run_id} stopped; logs in {run_dir}"
                interrupted = _interrupted_line(engine, result.run_id, run_dir)
                break
            rows = engine.ledger(result.run_id)
            summary = build_summary(result, rows, time_scale)
            # A workload's restart has no deployment id: the time its pod template was stamped stands in for it.
            restarted = "restarted_at" if request["operation"] == "k8s-rollout-restart" else "deployment_id"
            summary["restarts"] = _per_target(rows, "target", {"deployment_id": restarted})
            summaries.append(summary)
            out_console.print(f"[bold]Delivery {delivery} of {deliveries}[/] ({request['operation']})")
            render_summary(out_console, summary)
            _render_restarts(summary["restarts"], kubernetes=restarted == "restarted_at")
            _CTRL_C.stage = f"interrupted: stopped after delivery {delivery} of {deliveries}; logs in {run_dir}"
    if interrupted is not None:
        err_console.print(interrupted, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary_json is not None:
        summary_json.write_text(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2) + "\n")
    # Exit codes as for `local run`: a request the hub refuses is bad input (2), whichever delivery it was.
    if any(s["error"] in INVALID_INPUT_ERRORS for s in summaries):
        raise typer.Exit(EXIT_BAD_INPUT)
    last = [s for n, s in enumerate(summaries, 1) if n % deliveries == 0]  # each run's last delivery
    raise typer.Exit(EXIT_OK if all(s["outcome"] == "succeeded" for s in last) else EXIT_FAILED)


_EKS_CLUSTERS_HELP = (
    "Index the Kubernetes workloads of the world's EKS clusters matching this name glob, as image_push.eks_clusters "
    "would (repeatable); the world's EKS accounts and regions join image_push.accounts and regions, and the push "
    "also starts a k8s-rollout-restart run. Needs a checkout (the local Kubernetes API is devtools/kubernetes)."
)


def _with_eks_clusters(overrides: dict[str, Any] | None, patterns: list[str], fleet: World) -> dict[str, Any]:
    """Settings overrides that index the world's EKS clusters (image_push.eks_clusters, accounts, regions)."""
    merged: dict[str, Any] = dict(overrides or {})
    push = dict(merged.get("image_push") or _context().get("hubspoke", {}).get("image_push", {}))
    places = [(a, r) for a, r, _ in fleet.eks_places() if a is not None and r is not None]
    push["eks_clusters"] = list(dict.fromkeys([*push.get("eks_clusters", []), *patterns]))
    push["accounts"] = list(dict.fromkeys([*push.get("accounts", []), *(a for a, _ in places)]))
    push["regions"] = list(dict.fromkeys([*push.get("regions", []), *(r for _, r in places)]))
    merged["image_push"] = push
    return merged


def _kubernetes_api(fleet: World | None) -> tuple[Any, Any, Any] | None:
    """The local Kubernetes API's server, credentials and world adapter when the world has EKS clusters (None
    otherwise). A test double of devtools/, so imported only then; an installed wheel has no devtools (bad input)."""
    if fleet is None or not fleet.eks_places():
        return None
    _checkout_on_path()
    try:
        from devtools.kubernetes import KubernetesServer, moto_credentials
        from devtools.kubernetes.world import WorldKubernetes
    except ImportError:
        raise _bad_input("--world: EKS clusters need the local Kubernetes API (devtools/, in a checkout)") from None
    return KubernetesServer, moto_credentials, WorldKubernetes


def _checkout_on_path() -> None:
    """The checkout's root on sys.path when this hubspoke runs from one (devtools/ beside hubspoke/): the console
    script `.venv/bin/hubspoke` of an editable install sees only the packages the wheel ships, so the README's
    `hubspoke local ... --world` with EKS clusters could not import the local Kubernetes API. An installed wheel
    has no devtools/ beside it, and nothing changes."""
    root = Path(__file__).resolve().parent.parent
    if (root / "devtools" / "kubernetes").is_dir() and str(root) not in sys.path:
        sys.path.append(str(root))


@contextmanager
def _kubernetes_double(fleet: World | None) -> Iterator[Any]:
    """The local Kubernetes API serving the world's EKS clusters (None when there is no world or it has none)."""
    api = _kubernetes_api(fleet)
    if api is None:
        yield None
        return
    server, credentials, world_adapter = api
    with server(credentials=credentials()) as running:
        yield world_adapter(running)


def _source(source_json: str) -> dict[str, Any]:
    try:
        source = json.loads(source_json)
    except json.JSONDecodeError as err:
        raise _bad_input(f"--source-json: not valid JSON ({err.msg} at position {err.pos})") from None
    except RecursionError:
        raise _bad_input("--source-json: nests too deeply to read") from None
    if not isinstance(source, dict) or not isinstance(source.get("type"), str):
        raise _bad_input('--source-json: a JSON object with a "type", e.g. {"type": "github-org", "org": "acme"}')
    return source


def _github(
    github_url: str | None, operation: str, source: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, str | None]:
    """Settings overrides for --github-url, and the token for the local Secrets Manager (from GITHUB_TOKEN)."""
    from urllib.parse import urlsplit

    from stacks.settings import CONTEXT_KEY

    overrides = None
    if github_url is not None:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", github_url):
            raise _bad_input(
                "--github-url: an http(s) URL, e.g. http://127.0.0.1:8765 or https://ghe.example.com/api/v3"
            )
        current = _context().get(CONTEXT_KEY, {}).get("github", {})
        overrides = {"github": {**current, "api_url": github_url.rstrip("/")}}
    uses_github = operation == GITHUB_FILE_SYNC or (source or {}).get("type") == "github-org"
    token = os.environ.get(GITHUB_TOKEN_ENV, "").strip()
    if not uses_github:
        return overrides, None
    if token:
        return overrides, token
    if github_url is not None and urlsplit(github_url).hostname in ("127.0.0.1", "localhost", "::1"):
        return overrides, "local-demo-token"  # a local server started without --token-env takes any token
    raise _bad_input(
        f"{GITHUB_TOKEN_ENV}: set it to a GitHub token for this run (it goes to the local Secrets Manager only), "
        "or point --github-url at a local server (python -m devtools.github serve, in a checkout)"
    )


def _remote_github(settings: Any, github_token: str | None) -> tuple[str, ...]:
    """The one host off this machine a local run may reach: the GitHub API of a run that uses GitHub."""
    from urllib.parse import urlsplit

    host = urlsplit(settings.github.api_url).hostname
    return (host,) if github_token is not None and host else ()


def _per_target(rows: list[dict[str, Any]], id_key: str, fields: dict[str, str]) -> list[dict[str, Any]]:
    """One entry per ledger row, by target: its id (as `id_key`), status, the `detail` fields named in `fields`
    (output name -> detail key) and its error."""
    entries = []
    for row in rows:
        detail = json.loads(row["detail"]) if isinstance(row.get("detail"), str) else {}
        entries.append(
            {
                id_key: row["target_id"],
                "status": row["status"],
                **{name: detail.get(key) for name, key in fields.items()},
                "error": row.get("error_type"),
            }
        )
    return sorted(entries, key=lambda entry: entry[id_key])


def _render_pull_requests(pulls: list[dict[str, Any]]) -> None:
    opened = sum(p["pull_request"] == "opened" for p in pulls)
    reused = sum(p["pull_request"] == "reused" for p in pulls)
    unchanged = sum(p["status"] == "unchanged" for p in pulls)
    out_console.print(
        f"Pull requests: {opened} opened, {reused} reused ({unchanged} of all targets unchanged), "
        f"{sum(p['status'] == 'failed' for p in pulls)} repositories failed"
    )


def _prepare(run_name: str, overrides: dict[str, Any] | None = None) -> tuple[Any, Any, Path]:
    """Settings, the synthesized stack (cached) and the run's log folder; bad settings exit 2.

    HUBSPOKE_HOME moves the run logs and the synth cache (tests share one synth cache this way).
    """
    from hubspoke.synth import synthesize_cached
    from stacks.settings import CONTEXT_KEY, SettingsError, load_settings

    state_dir = Path(os.environ.get("HUBSPOKE_HOME", ".hubspoke"))
    run_dir = state_dir / "runs" / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    _CTRL_C.stage = SYNTH_STOPPED
    with err_console.status("Synthesizing the stack (cdk synth) ..."):
        try:
            settings = load_settings(_context(overrides).get(CONTEXT_KEY))
        except SettingsError as err:
            raise _bad_input(str(err)) from None
        _synthesize(state_dir / "synth", overrides)
        stack = synthesize_cached(state_dir / "synth", overrides)  # from the cache the child filled
    return settings, stack, run_dir


_SYNTH_CHILD = (
    "import json, sys; from pathlib import Path; from hubspoke.synth import synthesize_cached; "
    "synthesize_cached(Path(sys.argv[1]), json.loads(sys.argv[2]))"
)


def _synthesize(cache_root: Path, overrides: dict[str, Any] | None) -> None:
    """Fill the synth cache in a child process of its own session (unless it is filled already).

    jsii runs a Node kernel beside the process that imports aws_cdk, and keeps it to the end; in our
    process group it would take the terminal's Ctrl-C too and print its own traceback. In a session of its
    own it never sees the terminal's signal: Ctrl-C reaches us alone, and we end the synth's whole group.
    """
    from hubspoke.synth import PROJECT_ROOT, STACK_NAME, source_fingerprint

    if (cache_root / source_fingerprint(overrides) / f"{STACK_NAME}.template.json").exists():
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", _SYNTH_CHILD, str(cache_root), json.dumps(overrides or {})]
    child = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - our own argv
    try:
        code = child.wait()
    except BaseException:
        os.killpg(child.pid, signal.SIGKILL)  # the synth, its Node kernel and pip with it
        child.wait()
        raise
    if code != 0:
        err_console.print(f"[bold red]error:[/] cdk synth failed (exit {code}); its output is above")
        raise typer.Exit(EXIT_FAILED)


def _world(path: Path) -> World:
    """The world file, validated before anything starts (bad input names the file and the field)."""
    from pydantic import ValidationError

    from hubspoke.world import World as WorldModel

    try:
        return WorldModel.model_validate(_json_file(path, "--world"))
    except ValidationError as err:
        _lambda_code()
        from shared.models import field_problems

        raise _bad_input(f"--world: {path}: {_one_line(field_problems(err))}") from None


def _put_inputs(
    engine: LocalEngine, fleet: World | None, request: dict[str, Any], targets: Any, kubernetes: Any = None
) -> None:
    """Before a local run: the world into moto (its EKS clusters served by `kubernetes`), and the targets file
    (a (name, body) pair) as the run's source."""
    if fleet is not None:
        _load_world(engine, fleet, kubernetes)
        err_console.print(f"world: {_world_line(fleet)}", highlight=False)
    if targets is not None:
        name, body = targets
        fmt = name.rpartition(".")[2]
        request["source"] = {"type": "s3-manifest", "format": fmt, **engine.put_input(f"inputs/{name}", body)}


def _load_world(engine: LocalEngine, fleet: World, kubernetes: Any = None) -> int:
    """The world into the engine (hubspoke.world.load_into_engine); returns the number of services."""
    from hubspoke.world import load_into_engine

    return load_into_engine(engine, fleet, kubernetes)


def _world_line(fleet: World) -> str:
    """What a world holds, in one line."""
    places = fleet.places()
    eks = fleet.eks_places()
    accounts = {a for a, _, _ in [*places, *eks] if a is not None}
    regions = {r for _, r, _ in [*places, *eks] if r is not None}
    where = f" in {len(accounts)} other accounts x {len(regions)} regions" if accounts else ""
    services = sum(len(c.services) for _, _, c in places)
    workloads = f", {len(eks)} EKS clusters, {sum(len(c.workloads) for _, _, c in eks)} workloads" if eks else ""
    return f"{len(places)} clusters{where}, {services} services{workloads}"


def _json_file(path: Path, name: str) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as err:
        raise _bad_input(f"{name}: cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise _bad_input(f"{name}: {path} is not valid JSON ({err.msg}, line {err.lineno})") from None


def _render_restarts(restarts: list[dict[str, Any]], kubernetes: bool = False) -> None:
    from rich.table import Table

    table = Table(title="Workloads" if kubernetes else "Services")
    columns = ("workload", "status", "restarted at") if kubernetes else ("cluster/service", "status", "deployment id")
    for column in columns:
        table.add_column(column)
    for r in restarts:
        table.add_row(r["target"], r["status"], r["deployment_id"] or r["error"] or "")
    out_console.print(table)


def _run_with_progress(engine: Any, request: dict[str, Any], quiet: bool, execution_name: str | None = None) -> Any:
    with _CTRL_C.during_run(engine):
        return _run_with_bar(engine, request, quiet, execution_name)


def _run_with_bar(engine: Any, request: dict[str, Any], quiet: bool, execution_name: str | None) -> Any:
    if quiet:
        return engine.run(request, execution_name=execution_name)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[succeeded]} ok[/] [red]{task.fields[failed]} failed[/]"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:
        task: TaskID = bar.add_task("hub", total=None, succeeded=0, failed=0)

        def update(p: Any) -> None:
            label = "spokes" if p.total else "hub"
            bar.update(task, description=label, total=p.total, completed=p.done, succeeded=p.succeeded, failed=p.failed)

        return engine.run(request, on_progress=update, execution_name=execution_name)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED:
            # Ctrl-C: everything is written and closed (ledger, logs, the one line). Tearing down the
            # interpreter (moto's, botocore's and pydantic's objects) costs seconds on a busy machine; the
            # person asked for their prompt back, so leave without it.
            import logging

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        raise


# Operator commands on a deployed stack (hubspoke/cli_client.py).
def _register_client_commands() -> None:
    from hubspoke import cli_client

    cli_client.register(app)


_register_client_commands()
