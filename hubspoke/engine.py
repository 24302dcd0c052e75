"""The embedded local engine: the synthesized stack's own state machine, run by moto's ASL interpreter.

Everything the workflow needs is created in moto from the template (bucket, the ledger table from its own
KeySchema, the state machine from its own DefinitionString). Where moto's interpreter differs from AWS,
the engine adapts explicitly; each adaptation is listed in ADAPTATIONS, in the README, and tested.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from hubspoke import limits, localnet, map_runs
from hubspoke.cfn import Resolver
from hubspoke.runtime import FaultHook, InProcessRuntime, LocalFunction, LocalRunStopped
from hubspoke.synth import SynthesizedStack

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "hubspoke-local"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/hubspoke-local-states"
TIME_SCALE_ENV = "HUBSPOKE_TIME_SCALE"  # read by lambdas/shared/clock.py
LAMBDA_LOGGER = "hubspoke"  # the Powertools service name (lambdas/shared/observability.py)

ADAPTATIONS: dict[str, str] = {
    "in-process-lambda": (
        "Lambda tasks are answered by running the synthesized asset's handler in-process "
        "(moto's docker-less Lambda only echoes the payload); errors keep Lambda's errorType shape."
    ),
    "scaled-retry": "Retry intervals (IntervalSeconds, backoff, jitter) sleep for interval x time scale.",
    "scaled-wait": "Wait states wait for seconds x time scale.",
    "scaled-timeout": (
        "A task's TimeoutSeconds is measured on the simulated clock: its real time, minus the time its "
        "handler slept on the scaled clock, plus that sleep divided by the scale. A spoke that sleeps past "
        "its timeout times out as deployed; real in-process work (the hub seeding 10,000 rows, a spoke "
        "waiting for the CPU under load) counts one to one, as it would in Lambda."
    ),
    "resolved-definition": (
        "The template's DefinitionString is used as is, with Refs/GetAtts resolved to the local "
        "bucket, table and function ARNs."
    ),
    "named-executions": "Executions are always started with a name (moto's ARN ends in ':None' without one).",
    "lambda-timeout": (
        "A handler cannot be killed in-process, so its scaled sleeps stop at the function's own timeout "
        "(simulated) and raise Sandbox.Timedout, as Lambda stops a function; a spoke past its task timeout "
        "can then never write a late success."
    ),
    "iterative-map-worker": (
        "moto's Distributed Map worker recurses once per item it processes, so a worker with more than "
        "about 990 items (e.g. 1,000 targets at MaxConcurrency 1) dies with RecursionError and the run "
        "hangs; the engine runs the same steps in a loop."
    ),
    "serialized-moto": (
        "moto's backends are not thread-safe: a ledger query deep-copying items while a spoke wrote one "
        "failed with 'dictionary changed size during iteration'. The engine lets a table-iterating read "
        "(Query, Scan) into moto only alone; other requests still run side by side."
    ),
    "aws-data-limit": (
        "A state's input, and a Map's gathered child results when it has no ResultWriter, may not reach 256 KiB "
        "(262,144 bytes): the state fails with States.DataLimitExceeded, which no Retry or Catch matches (not "
        "even States.ALL), so the execution fails, as on AWS. moto checks only state outputs and task results, "
        "and let States.ALL catch those. Each Map run's gathered bytes are recorded (LocalEngine.limits)."
    ),
    "aws-history-limit": (
        "An execution's history holds at most 25,000 events: when event 25,000 would not be ExecutionSucceeded, "
        "the execution fails with ExecutionFailed as that event (error States.Runtime, the cause names the "
        "quota), as on AWS; moto records any number. A Distributed Map's children have histories of their own."
    ),
    "float-tolerated-failure": (
        "An integer ToleratedFailurePercentage (valid on AWS; CDK writes 100) is given to moto as a float, the "
        "only form its parser accepts; the value is unchanged."
    ),
    "kept-map-runs": (
        "ListMapRuns and DescribeMapRun answer from the Map Run records the engine keeps by execution: moto keeps "
        "them in an execution's interpreter environment, built in its worker thread after StartExecution returned, "
        "and until then both calls failed with AttributeError (DescribeMapRun scans every execution)."
    ),
    "cached-jsonpath": (
        "JSONPath expressions are parsed once and reused (moto builds a new parser for every lookup, "
        "a fifth of the CPU per spoke); results are unchanged."
    ),
}

ProgressCallback = Callable[["Progress"], None]


@dataclass(frozen=True)
class Progress:
    status: str
    total: int | None
    succeeded: int
    failed: int
    pending: int

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


@dataclass
class RunResult:
    """What one execution on the local engine produced."""

    run_id: str
    execution_arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    error: str | None
    cause: str | None
    summary: dict[str, Any] | None  # the full report (every failed target), when Summarize ran
    real_seconds: float
    simulated_seconds: float
    peak_concurrency: int
    spoke_invocations: int
    spoke_cpu_ms: float
    emf: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False  # stopped by LocalEngine.interrupt() (Ctrl-C), not ended by the workflow


class _OutputRouter(io.TextIOBase):
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


class _CurrentStdout(io.TextIOBase):
    """Writes to whatever sys.stdout is at the time (what a logger created before us should go back to)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@contextmanager
def _patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


class LambdaTimedOut(Exception):  # noqa: N818 - shaped as Lambda's own error type below
    """The handler ran past its function's timeout; Lambda would have stopped it here."""

    error_type = "Sandbox.Timedout"


class SimulatedTaskTime:
    """Measures tasks on the simulated clock, for Task TimeoutSeconds (adaptation `scaled-timeout`).

    Handlers sleep through `sleep` (patched into lambdas/shared/clock.py), which records how long each
    thread slept in real time. moto runs every task in a thread of its own and waits on an Event with the
    task's timeout; `deadline_event` makes that wait end when the task's simulated elapsed time
    (real time - slept + slept / scale) reaches the timeout.
    """

    POLL_SECONDS = 0.05  # how often a waiting task re-checks while its worker is not sleeping

    def __init__(self, scale: float, halt: threading.Event | None = None) -> None:
        self.scale = scale
        # Set when the run is stopped: sleeping handlers wake and end (LocalRunStopped) instead of sleeping on.
        self.halt = halt or threading.Event()
        self._lock = threading.Lock()
        # thread -> (slept so far, sleep start); thread -> (invocation start, Lambda timeout in simulated s)
        self._slept: dict[threading.Thread, tuple[float, float | None]] = {}
        self._invocations: dict[threading.Thread, tuple[float, float]] = {}
        self._local = threading.local()
        outer = self

        class DeadlineEvent(threading.Event):
            worker: threading.Thread | None = None

            def __init__(self) -> None:
                super().__init__()
                outer._local.last_event = self

            def wait(self, timeout: float | None = None) -> bool:
                if timeout is None or self.worker is None:
                    return super().wait(timeout)
                return outer._wait(self, self.worker, timeout)

        class TrackedThread(threading.Thread):
            def start(self) -> None:
                # moto creates the Event, then the task's thread: pair them.
                event = getattr(outer._local, "last_event", None)
                if event is not None:
                    event.worker = self
                super().start()

            def run(self) -> None:
                try:
                    super().run()
                finally:
                    with outer._lock:
                        outer._invocations.pop(self, None)

        self.deadline_event = DeadlineEvent
        self.tracked_thread = TrackedThread

    def start_invocation(self, timeout_simulated_seconds: float) -> None:
        """Called by the runtime in the invoking thread: the Lambda's own timeout applies from now."""
        with self._lock:
            self._invocations[threading.current_thread()] = (time.monotonic(), timeout_simulated_seconds)

    def sleep(self, real_seconds: float) -> None:
        """A handler's scaled sleep; past its Lambda timeout it ends there, as Lambda would end it."""
        thread = threading.current_thread()
        with self._lock:
            slept, _ = self._slept.get(thread, (0.0, None))
            self._slept[thread] = (slept, time.monotonic())
            invocation = self._invocations.get(thread)
        cut_short = False
        if invocation is not None:
            started, limit = invocation
            used, _ = self._simulated(thread, time.monotonic() - started)
            allowed = max(limit - used, 0.0) * self.scale
            if real_seconds > allowed:
                real_seconds, cut_short = allowed, True
        try:
            halted = self.halt.wait(real_seconds)
        finally:
            with self._lock:
                slept, started_sleep = self._slept.get(thread, (0.0, None))
                self._slept[thread] = (slept + time.monotonic() - (started_sleep or time.monotonic()), None)
        if halted:
            raise LocalRunStopped("the local run was stopped")
        if cut_short:
            raise LambdaTimedOut(f"Task timed out after {invocation[1] if invocation else 0:.2f} seconds")

    def _simulated(self, thread: threading.Thread | None, real_elapsed: float) -> tuple[float, bool]:
        with self._lock:
            slept, started = self._slept.get(thread, (0.0, None)) if thread else (0.0, None)
        sleeping = started is not None
        if sleeping:
            slept += time.monotonic() - (started or 0.0)
        return real_elapsed - slept + slept / self.scale, sleeping

    def _wait(self, event: threading.Event, worker: threading.Thread, timeout: float) -> bool:
        begun = time.monotonic()
        try:
            while True:
                simulated, sleeping = self._simulated(worker, time.monotonic() - begun)
                remaining = timeout - simulated
                if remaining <= 0:
                    return event.is_set()
                step = remaining * self.scale if sleeping else min(remaining, self.POLL_SECONDS)
                if threading.Event.wait(event, max(step, 0.001)):
                    return True
        finally:
            with self._lock:
                self._slept.pop(worker, None)


class _ReadWriteGate:
    """Many requests at once, except that a read that iterates a table (Query, Scan) runs alone."""

    ITERATING = (".Query", ".Scan")

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def enter(self, event_name: str) -> Iterator[None]:
        exclusive = event_name.endswith(self.ITERATING)
        with self._cond:
            while self._exclusive or (exclusive and self._shared):
                self._cond.wait()
            if exclusive:
                self._exclusive = True
            else:
                self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                if exclusive:
                    self._exclusive = False
                else:
                    self._shared -= 1
                self._cond.notify_all()


_MOTO_GATE = _ReadWriteGate()


def _serialized(call: Callable[..., Any]) -> Callable[..., Any]:
    """Keep table-iterating reads apart from everything else in moto (adaptation `serialized-moto`)."""

    @functools.wraps(call)
    def gated(self: Any, event_name: str, *args: Any, **kwargs: Any) -> Any:
        with _MOTO_GATE.enter(event_name):
            return call(self, event_name, *args, **kwargs)

    return gated


def _lambda_clock_module(runtime: InProcessRuntime) -> Any:
    """lambdas/shared/clock.py as the handlers will import it (from the asset, unless already loaded)."""
    asset = str(runtime.functions[0].asset_dir)
    if asset not in sys.path:
        sys.path.insert(0, asset)
    return importlib.import_module("shared.clock")


def _interpreter_patches(stack: ExitStack, runtime: InProcessRuntime, scale: float, halt: threading.Event) -> None:
    """Install the adaptations to moto's interpreter (see ADAPTATIONS)."""
    from moto.core import botocore_stubber
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as map_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
    from moto.stepfunctions.parser.asl.utils import json_path

    def invoke_integration(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        return runtime.invoke(parameters["FunctionName"], parameters.get("Payload"))

    def exec_function(env: Any, parameters: dict[str, Any], region: str, account: str, credentials: Any) -> None:
        response = runtime.invoke(parameters["FunctionName"], parameters.get("Payload"))
        if response.get("FunctionError"):
            raise lambda_eval_utils.LambdaFunctionErrorException(
                response["FunctionError"], json.dumps(response["Payload"], separators=(",", ":"))
            )
        env.stack.append(response)

    def scaled_wait(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * scale)

    def iterative_eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        # moto's _eval_pool, step for step, with its tail call turned into a loop.
        while job is not None:
            job_frame = worker_frame.open_inner_frame()
            self._eval_job(env=job_frame, job=job)
            worker_frame.delete_frame(job_frame)
            if isinstance(job.job_output, Exception) or self.stopped():
                break
            next_job = self._job_pool.next_job()
            if next_job is None:
                break
            self._job_pool.close_job(job)
            job = next_job
        self._env.delete_frame(worker_frame)
        if job is not None:
            self._job_pool.close_job(job)

    stack.enter_context(_patched(map_worker.DistributedItemProcessorWorker, "_eval_pool", iterative_eval_pool))
    stack.enter_context(
        _patched(botocore_stubber.BotocoreStubber, "__call__", _serialized(botocore_stubber.BotocoreStubber.__call__))
    )
    stack.enter_context(_patched(lambda_eval_utils, "_invoke_lambda_function", invoke_integration))
    stack.enter_context(_patched(lambda_eval_utils, "exec_lambda_function", exec_function))
    # Retry intervals on the scaled clock; a stopped run does not wait out its backoff.
    scaled_time = SimpleNamespace(sleep=lambda seconds: halt.wait(seconds * scale))
    stack.enter_context(_patched(retrier_decl, "time", scaled_time))
    stack.enter_context(_patched(wait_function.WaitFunction, "_wait_interval", scaled_wait))
    # Task timeouts: the deadline event measures a task on the simulated clock (see SimulatedTaskTime).
    task_time = SimulatedTaskTime(scale, halt)
    runtime.on_invoke = lambda fn: task_time.start_invocation(fn.timeout_seconds / scale)
    stack.enter_context(_patched(execute_state, "threading", SimpleNamespace(Event=task_time.deadline_event)))
    stack.enter_context(_patched(execute_state, "Thread", task_time.tracked_thread))
    clock = _lambda_clock_module(runtime)
    stack.enter_context(_patched(clock, "time", SimpleNamespace(sleep=task_time.sleep, monotonic=time.monotonic)))
    # Parsed JSONPath objects are immutable, so one per expression is safe across threads.
    original_parse = json_path.parse  # type: ignore[attr-defined]
    stack.enter_context(_patched(json_path, "parse", functools.lru_cache(maxsize=4096)(original_parse)))


def _route_pinned_endpoint_to_moto(stack: ExitStack, endpoint: str) -> None:
    """Requests to the pinned endpoint go to moto as the AWS URL of the service they are signed for; moto
    answering nothing sends them on to the closed port, never to AWS (see hubspoke/localnet.py)."""
    from moto.core import botocore_stubber

    original = botocore_stubber.BotocoreStubber.__call__

    @functools.wraps(original)
    def pinned(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        url = localnet.aws_url(request.url, endpoint, request.headers.get("Authorization"))
        if url is None:
            return original(self, event_name, request, **kwargs)
        pinned_url, request.url = request.url, url
        try:
            response = original(self, event_name, request, **kwargs)
        finally:
            if request.url == url:
                request.url = pinned_url
        if response is None:
            request.url = pinned_url  # not moto's: on to the closed port, where it fails
        return response

    stack.enter_context(_patched(botocore_stubber.BotocoreStubber, "__call__", pinned))


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class LocalEngine:
    """Use as a context manager: `with LocalEngine(stack) as engine: engine.run(request)`."""

    def __init__(
        self,
        stack: SynthesizedStack,
        *,
        time_scale: float = 0.01,
        log_path: Path | None = None,
        fault_hook: FaultHook | None = None,
        github_token: str | None = None,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.stack = stack
        self.time_scale = time_scale
        self.log_path = log_path
        self.runtime = InProcessRuntime(fault_hook=fault_hook)
        # Stored in moto's Secrets Manager under the stack's token secret name, as an operator would.
        self._github_token = github_token
        self._exit = ExitStack()
        self._clients: dict[str, Any] = {}
        self.table_name = ""
        self.state_machine_arn = ""
        self.spoke_function = ""
        self._router: _OutputRouter | None = None
        self.limits = limits.LimitRecord()
        self._terminal: TextIO = sys.stdout
        # Hosts off this machine the run may reach (a remote GitHub API the person named); AWS never.
        self.allowed_hosts = allowed_hosts
        self._halt = threading.Event()
        self._interrupt_requested = False
        # Fake credentials, unique per engine, so tests can prove no secret leaks into logs or payloads.
        self.secrets = (f"local-secret-{uuid.uuid4().hex}", f"local-token-{uuid.uuid4().hex}")

    # -- set-up -----------------------------------------------------------------------------------

    def __enter__(self) -> LocalEngine:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._interrupt_requested or exc[0] is not None:
            self._halt_handlers()
        self._drain()
        if self._router is not None:
            self._router.active = False
        self._exit.close()

    STOP_GRACE_SECONDS = 1.5  # real seconds a stopped run gives its threads to notice and end

    def interrupt(self) -> None:
        """Ask the running `run` to stop (safe from a signal handler: it only sets a flag the run polls)."""
        self._interrupt_requested = True

    def _halt_handlers(self) -> None:
        """No new handler starts; sleeping handlers and retry backoffs wake and end; then wait, briefly,
        for the handlers and moto's interpreter threads to finish while moto is still here to answer them."""
        from moto.stepfunctions.parser.utils import TMP_THREADS

        self.runtime.close()
        self._halt.set()
        deadline = time.monotonic() + self.STOP_GRACE_SECONDS
        while time.monotonic() < deadline:
            busy = any(f.stats.active for f in self.runtime.functions)
            if not busy and not any(t.is_alive() for t in list(TMP_THREADS)):
                return
            time.sleep(0.01)

    def _drain(self) -> None:
        """Let handlers still running (a spoke past its task timeout) finish while moto is still up.

        Lambda would stop them at their own timeout; after that they would otherwise call AWS unmocked.
        """
        longest = max((f.timeout_seconds for f in self.runtime.functions), default=0.0)
        deadline = time.monotonic() + longest + 5
        while any(f.stats.active for f in self.runtime.functions) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _start(self) -> None:
        from moto import mock_aws

        stack = self._exit
        # First in, last out: the guard outlives moto and every thread the run started (see localnet).
        stack.enter_context(localnet.guarded(self.allowed_hosts))
        endpoint = stack.enter_context(localnet.pinned_endpoints())
        stack.enter_context(
            _environment(
                {
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": self.secrets[0],
                    "AWS_SESSION_TOKEN": self.secrets[1],
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_REGION": REGION,
                }
            )
        )
        stack.enter_context(
            mock_aws(
                config={
                    "stepfunctions": {"execute_state_machine": True},
                    "lambda": {"use_docker": False},
                }
            )
        )
        _route_pinned_endpoint_to_moto(stack, endpoint)
        import boto3

        for service in ("s3", "dynamodb", "stepfunctions", "ecs"):
            self._clients[service] = boto3.client(service, region_name=REGION)

        refs: dict[str, Any] = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "HubSpoke",
        }
        attrs: dict[tuple[str, str], Any] = {}

        # The workflow's bucket is the one the stack outputs; others (access logs) get names only.
        main_bucket = self.stack.template["Outputs"]["BucketName"]["Value"]["Ref"]
        for bucket_id in self.stack.resources("AWS::S3::Bucket"):
            name = BUCKET if bucket_id == main_bucket else f"{BUCKET}-{bucket_id.lower()}"
            refs[bucket_id] = name
            attrs[(bucket_id, "Arn")] = f"arn:aws:s3:::{name}"
        self.s3.create_bucket(Bucket=BUCKET)

        # Every table from its own KeySchema; the ledger is the one the stack outputs.
        ledger_id = self.stack.template["Outputs"]["LedgerTableName"]["Value"]["Ref"]
        for table_id, table in self.stack.resources("AWS::DynamoDB::Table").items():
            name = "hubspoke-ledger" if table_id == ledger_id else f"hubspoke-{table_id.lower()}"
            props = table["Properties"]
            self.dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            )
            refs[table_id] = name
            attrs[(table_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        self.table_name = refs[ledger_id]

        functions = self.stack.resources("AWS::Lambda::Function")
        for logical_id in functions:
            refs[logical_id] = logical_id
            attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
        resolver = Resolver(refs, attrs)

        env: dict[str, str] = {}
        for logical_id, fn in functions.items():
            props = fn["Properties"]
            variables = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
            for key, value in variables.items():
                if env.setdefault(key, value) != value:
                    raise RuntimeError(f"functions disagree on environment variable {key}; run them apart")
            self.runtime.register(
                LocalFunction(
                    name=logical_id,
                    arn=attrs[(logical_id, "Arn")],
                    handler_path=props["Handler"],
                    asset_dir=self.stack.asset_dir(logical_id),
                    memory_mb=int(props.get("MemorySize", 128)),
                    timeout_seconds=float(props.get("Timeout", 3)) * self.time_scale,
                )
            )
            if props["Handler"].startswith("spoke."):
                self.spoke_function = logical_id
        env.update(
            {
                TIME_SCALE_ENV: repr(self.time_scale),
                # X-Ray has no daemon here; Powertools skips tracing when this is set.
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        stack.enter_context(_environment(env))
        self._reset_handler_caches()
        if self._github_token is not None:
            boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name=env["GITHUB_TOKEN_SECRET"], SecretString=self._github_token
            )

        terminal = sys.stdout
        log = stack.enter_context(self.log_path.open("a", encoding="utf-8")) if self.log_path else None
        # moto's interpreter logs every caught failure at WARNING; that belongs in the run log, not the terminal.
        moto_logger = logging.getLogger("moto")
        moto_handler = logging.StreamHandler(log) if log else logging.NullHandler()
        moto_logger.addHandler(moto_handler)
        stack.callback(moto_logger.removeHandler, moto_handler)
        stack.enter_context(_patched(moto_logger, "propagate", False))
        self._terminal = terminal
        self._router = _OutputRouter(terminal, self.runtime, log)
        sys.stdout = self._router
        stack.callback(self._restore_stdout)
        # A Powertools Logger created before the engine started (tests import handlers) holds an old stdout.
        # Assign rather than setStream: setStream flushes the old stream, which may be closed by now.
        for handler in logging.getLogger(LAMBDA_LOGGER).handlers:
            if type(handler) is logging.StreamHandler:
                handler.stream = self._router
                stack.callback(setattr, handler, "stream", _CurrentStdout())
        _interpreter_patches(stack, self.runtime, self.time_scale, self._halt)
        self.limits = limits.install(stack)  # adaptations `aws-data-limit`, `aws-history-limit`
        self.map_runs = map_runs.install(stack)  # adaptation `kept-map-runs`

        ((_, sm),) = self.stack.resources("AWS::StepFunctions::StateMachine").items()
        definition = limits.adapt_definition(resolver.resolve(sm["Properties"]["DefinitionString"]))
        created = self.sfn.create_state_machine(
            name="HubSpoke", definition=definition, roleArn=ROLE_ARN, type="STANDARD"
        )
        self.state_machine_arn = created["stateMachineArn"]
        self._register_embedded(stack)

    def _register_embedded(self, stack: ExitStack) -> None:
        """Commands without --stack operate on this engine while it runs (hubspoke/cli_client.py)."""
        from hubspoke.client.deployment import register_embedded, unregister_embedded

        deployment = self.deployment()
        register_embedded(deployment)
        stack.callback(unregister_embedded, deployment)

    STACK_NAME = "HubSpoke"  # the embedded engine's stack name, as `--stack` names a deployed one

    def deployment(self) -> Any:
        """The client's Deployment of this engine: the values a deployed stack's outputs give.

        Not discovered through moto's CloudFormation: that needs moto[cloudformation]'s extra packages
        (openapi-spec-validator, ...), which this environment does not install.
        """
        from hubspoke.client.deployment import Deployment

        return Deployment(
            stack_name=self.STACK_NAME,
            state_machine_arn=self.state_machine_arn,
            bucket=BUCKET,
            ledger_table=self.table_name,
            topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:hubspoke-local-alarms",
            region=REGION,
        )

    def _restore_stdout(self) -> None:
        # Give back the stream we found at start, unless someone has replaced us since. The router is
        # done with its log (closed next): a late flush through a stale reference must not touch it.
        if self._router is None:
            return
        if sys.stdout is self._router:
            sys.stdout = self._terminal
        self._router.terminal = self._terminal
        self._router.log = None

    @staticmethod
    def _reset_handler_caches() -> None:
        # Handlers cache config and clients per "container"; a new engine is a new container.
        for module_name, attr in (
            ("shared.config", "config"),
            ("shared.aws", "client"),
            ("spoke.operations.ecs_restart", "_restart_once"),
            ("shared.github", "_pool"),
        ):
            module = sys.modules.get(module_name)
            if module is not None:
                getattr(module, attr).cache_clear()
        # Powertools Parameters caches secrets in its default providers, per process: a new container.
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()  # type: ignore[no-untyped-call]

    # -- clients ----------------------------------------------------------------------------------

    @property
    def s3(self) -> Any:
        return self._clients["s3"]

    @property
    def dynamodb(self) -> Any:
        return self._clients["dynamodb"]

    @property
    def ecs(self) -> Any:
        return self._clients["ecs"]

    def function_named(self, handler_prefix: str) -> str:
        """The local function whose handler starts with `handler_prefix` (e.g. 'indexer.')."""
        return next(f.name for f in self.runtime.functions if f.handler_path.startswith(handler_prefix))

    @property
    def sfn(self) -> Any:
        return self._clients["stepfunctions"]

    # -- running ----------------------------------------------------------------------------------

    def put_input(self, key: str, body: bytes) -> dict[str, str]:
        """Upload a target list under inputs/ and return an s3-manifest source pointing at it."""
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return {"bucket": BUCKET, "key": key}

    def manifest_request(
        self, run_id: str, targets: list[dict[str, Any]], params: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A noop run request over `targets`, uploaded as an s3-manifest source (any number of targets)."""
        source = self.put_input(f"inputs/{run_id}.json", json.dumps(targets).encode())
        return {
            "run_id": run_id,
            "operation": "noop",
            "params": params or {},
            "source": {"type": "s3-manifest", **source},
            **extra,
        }

    def run(
        self,
        request: Any,
        *,
        on_progress: ProgressCallback | None = None,
        poll_seconds: float = 0.1,
        execution_name: str | None = None,
    ) -> RunResult:
        """Start one execution (named after the run unless told) and wait for it; `on_progress` runs here.

        Execution names are unique, as in Step Functions: the same name again, while it runs or after it
        ended, returns that execution and runs nothing twice.
        """
        # Bad requests are run too (the hub refuses them), so do not assume a shape here.
        with self._stdout_routed():
            return self._run(request, on_progress=on_progress, poll_seconds=poll_seconds, execution_name=execution_name)

    @contextmanager
    def _stdout_routed(self) -> Iterator[None]:
        """The router on top of sys.stdout for one run, and whatever was there before put back after it.

        Someone may have swapped stdout since the engine started: pytest does between fixtures and tests,
        rich's Progress puts a proxy over it while its bar is live. The router goes over that stream for
        the run only; restoring in order keeps every stream in its owner's hands (the proxy of a finished
        bar must not outlive it as our terminal, nor we as its file).
        """
        router = self._router
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

    def _run(
        self, request: Any, *, on_progress: ProgressCallback | None, poll_seconds: float, execution_name: str | None
    ) -> RunResult:
        given = request.get("run_id") if isinstance(request, dict) else None
        run_id = str(given or execution_name or f"run-{uuid.uuid4().hex[:12]}")
        spoke_stats = self.runtime.function(self.spoke_function).stats
        before = (spoke_stats.invocations, spoke_stats.cpu_seconds)
        spoke_stats.peak_concurrency = spoke_stats.active
        emf_before = len(self._router.emf) if self._router else 0
        started = time.monotonic()
        name = execution_name or run_id
        try:
            arn = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(request)
            )["executionArn"]
        except self.sfn.exceptions.ExecutionAlreadyExists:
            # A delivery of a run that already ran (Step Functions keeps names unique): report it, run nothing.
            arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        interval = poll_seconds
        interrupted = False
        while True:
            if self._interrupt_requested and not interrupted:
                interrupted = True
                self._stop_execution(arn)
            desc = self.sfn.describe_execution(executionArn=arn)
            if on_progress is not None and not interrupted:  # a stopped run has no progress to show
                t0 = time.monotonic()
                on_progress(self.progress(run_id, desc["status"]))
                # Counting the ledger costs CPU the run needs: poll less often as the ledger grows.
                interval = max(poll_seconds, 5 * (time.monotonic() - t0))
            if desc["status"] != "RUNNING" or interrupted:
                break
            self._sleep_unless_interrupted(interval)
        real = time.monotonic() - started
        summary = self.report(run_id)
        return RunResult(
            run_id=run_id,
            execution_arn=arn,
            status=desc["status"],
            error=desc.get("error"),
            cause=desc.get("cause"),
            summary=summary,
            real_seconds=real,
            simulated_seconds=real / self.time_scale,
            peak_concurrency=spoke_stats.peak_concurrency,
            spoke_invocations=spoke_stats.invocations - before[0],
            spoke_cpu_ms=(spoke_stats.cpu_seconds - before[1]) * 1000,
            emf=self._router.emf[emf_before:] if self._router else [],
            interrupted=interrupted,
        )

    def _sleep_unless_interrupted(self, seconds: float) -> None:
        # Short steps: a signal handler's flag is seen within 50 ms, whatever the poll interval has grown to.
        end = time.monotonic() + seconds
        while not self._interrupt_requested and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))

    def _stop_execution(self, arn: str) -> None:
        """Stop the execution as StopExecution does, and the handlers with it."""
        from botocore.exceptions import ClientError

        with contextlib.suppress(ClientError):  # it may have ended on its own meanwhile
            self.sfn.stop_execution(executionArn=arn, error="Interrupted", cause="stopped by the person running it")
        self._halt_handlers()

    def progress(self, run_id: str, status: str = "RUNNING") -> Progress:
        counts: dict[str, int] = {}
        total = 0
        for item in self._ledger_items(run_id, projection="#s"):
            counts[item["status"]["S"]] = counts.get(item["status"]["S"], 0) + 1
            total += 1
        failed = counts.pop("failed", 0)
        pending = counts.pop("pending", 0)
        return Progress(
            status=status, total=total or None, succeeded=sum(counts.values()), failed=failed, pending=pending
        )

    def _ledger_items(self, run_id: str, projection: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "run_id = :r",
            "ExpressionAttributeValues": {":r": {"S": run_id}},
        }
        if projection:
            kwargs.update(ProjectionExpression=projection, ExpressionAttributeNames={"#s": "status"})
        while True:
            page = self.dynamodb.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def ledger(self, run_id: str) -> list[dict[str, Any]]:
        """The run's ledger rows as plain dicts (target_id, status, attempts, ...)."""
        rows = []
        for item in self._ledger_items(run_id):
            rows.append({k: (int(float(v["N"])) if "N" in v else v.get("S")) for k, v in item.items()})
        return rows

    def report(self, run_id: str) -> dict[str, Any] | None:
        """The report Summarize wrote to S3, if it ran."""
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=f"reports/{run_id}.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        report: dict[str, Any] = json.loads(body)
        return report

    def objects(self, prefix: str) -> list[str]:
        resp = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for o in resp.get("Contents", [])]

    def largest_payload(self, execution_arn: str) -> tuple[int, str]:
        """The largest state input/output of a run, in bytes, and where: the execution's own history, and
        every Lambda event and result (Map children run in-process, their payloads are these)."""
        largest = (0, "")
        for event in self.history(execution_arn):
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    for field_name in ("input", "output", "parameters"):
                        size = len(str(details.get(field_name, "")).encode())
                        largest = max(largest, (size, f"{event['type']}.{field_name}"))
        for fn in self.runtime.functions:
            largest = max(
                largest,
                (fn.stats.max_event_bytes, f"{fn.name} event"),
                (fn.stats.max_result_bytes, f"{fn.name} result"),
            )
        return largest

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]
