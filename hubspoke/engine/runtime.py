"""In-process Lambda runtime: runs the synthesized functions' handlers in this process, in the caller's thread.

moto's docker-less Lambda only echoes the payload, and its default path costs a boto3 client and the
botocore pipeline per invocation; this runtime answers Step Functions' Lambda tasks directly instead.
Errors are shaped as the Python Lambda runtime shapes them, so Retry/Catch see the same error names.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import json
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

Handler = Callable[[dict[str, Any], Any], Any]
# A fault hook runs before each invocation (function name, event). Raising a botocore ClientError simulates
# a Lambda service error (e.g. throttling: the handler never runs); raising anything else simulates the
# function crashing (an Unhandled function error with that exception's type).
FaultHook = Callable[[str, dict[str, Any]], None]


class LocalRunStopped(Exception):  # noqa: N818 - shaped as a Lambda error type below
    """The local run was stopped (Ctrl-C): the handler ends here, or never starts."""

    error_type = "HubSpoke.LocalRunStopped"


@dataclass
class LambdaContext:
    """The attributes Powertools and handlers read from Lambda's context object."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class FunctionStats:
    """Per-function counters the engine reports (peak concurrency, CPU per invocation)."""

    invocations: int = 0
    errors: int = 0
    # Invocations refused because the function ran its reserved concurrency already (the handler never ran).
    throttles: int = 0
    active: int = 0
    peak_concurrency: int = 0
    cpu_seconds: float = 0.0
    # The largest event and result seen, in bytes: state payloads have a 256 KB limit in Step Functions.
    max_event_bytes: int = 0
    max_result_bytes: int = 0
    # Invocations that returned a result, by the run id of their event ({"run": {"run_id": ...}}): the local
    # progress bar's succeeded count, without reading the ledger.
    results_by_run: Counter[str] = field(default_factory=Counter)


@dataclass
class LocalFunction:
    name: str
    arn: str
    handler_path: str
    asset_dir: Path
    memory_mb: int
    timeout_seconds: float
    handler: Handler | None = None
    # The function's own environment (its template variables and the engine's), as its process would hold.
    environment: dict[str, str] = field(default_factory=dict)
    # The ARN of its execution role, as the engine names it (what a trust policy sees as aws:PrincipalArn).
    role_arn: str = ""
    # The template's ReservedConcurrentExecutions: invocations beyond it at once are throttled, as Lambda does.
    reserved_concurrency: int | None = None
    stats: FunctionStats = field(default_factory=FunctionStats)


class InProcessRuntime:
    """Registry of local functions by ARN and name; `invoke` runs one like Lambda would."""

    def __init__(self, fault_hook: FaultHook | None = None) -> None:
        self._functions: dict[str, LocalFunction] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.fault_hook = fault_hook
        # Called in the invoking thread before the handler runs (the engine starts the Lambda timeout).
        self.on_invoke: Callable[[LocalFunction], None] | None = None
        self.closed = False

    def close(self) -> None:
        """Refuse every invocation from now on: a stopped run starts no handler, whoever asks."""
        self.closed = True

    def register(self, fn: LocalFunction) -> None:
        self._functions[fn.arn] = fn
        self._functions[fn.name] = fn

    def function(self, name_or_arn: str) -> LocalFunction:
        try:
            return self._functions[name_or_arn]
        except KeyError:
            raise KeyError(f"no local function {name_or_arn!r}") from None

    @property
    def functions(self) -> list[LocalFunction]:
        return list({id(f): f for f in self._functions.values()}.values())

    def in_handler(self) -> bool:
        """True in a thread that is running a handler (used to route its output)."""
        return bool(getattr(self._local, "depth", 0))

    def current_environment(self) -> dict[str, str] | None:
        """The environment of the function this thread is running (loading or invoking), if any."""
        function = self.current_function()
        return None if function is None else function.environment

    def current_function(self) -> LocalFunction | None:
        """The function this thread is running (loading or invoking), if any."""
        running: list[LocalFunction] = getattr(self._local, "running", [])
        return running[-1] if running else None

    @contextmanager
    def _running(self, fn: LocalFunction) -> Iterator[None]:
        running: list[LocalFunction] = self._local.__dict__.setdefault("running", [])
        running.append(fn)
        try:
            yield
        finally:
            running.pop()

    def _load(self, fn: LocalFunction) -> Handler:
        if fn.handler is None:
            module_name, _, attr = fn.handler_path.rpartition(".")
            put_on_path(fn.asset_dir)
            with self._running(fn):  # what the module reads at import comes from its function's environment
                fn.handler = getattr(importlib.import_module(module_name), attr)
        return fn.handler

    def invoke(self, function_name: str, payload: bytes | str | None) -> dict[str, Any]:
        """Invoke like Lambda's Invoke API: {StatusCode, Payload (parsed JSON), FunctionError?}."""
        fn = self.function(function_name)
        raw = payload or b"{}"
        event = json.loads(raw)
        context = LambdaContext(fn.name, fn.arn, fn.memory_mb, fn.timeout_seconds)
        if self.closed:
            return _error_response(LocalRunStopped(f"{fn.name} not started: the local run was stopped"), context)
        if self.fault_hook is not None:
            try:
                self.fault_hook(fn.name, event)
            except ClientError:
                raise
            except Exception as exc:
                with self._lock:
                    fn.stats.invocations += 1
                    fn.stats.errors += 1
                return _error_response(exc, context)
        handler = self._load(fn)
        if self.on_invoke is not None:
            self.on_invoke(fn)
        with self._lock:
            if self.closed:  # closed while this one was on its way in
                return _error_response(LocalRunStopped(f"{fn.name} not started: the local run was stopped"), context)
            if fn.reserved_concurrency is not None and fn.stats.active >= fn.reserved_concurrency:
                # Checked and counted under one lock: no two invocations can take the last slot.
                fn.stats.throttles += 1
                raise throttled()
            fn.stats.invocations += 1
            fn.stats.active += 1
            fn.stats.max_event_bytes = max(fn.stats.max_event_bytes, len(raw))
            fn.stats.peak_concurrency = max(fn.stats.peak_concurrency, fn.stats.active)
        self._local.depth = getattr(self._local, "depth", 0) + 1
        cpu_start = time.thread_time()
        try:
            # A JSON round trip, as Lambda does: a handler returning something unserializable fails here too.
            with self._running(fn):
                serialized = json.dumps(handler(event, context))
            result = json.loads(serialized)
            response: dict[str, Any] = {"StatusCode": 200, "Payload": result}
            with self._lock:
                fn.stats.max_result_bytes = max(fn.stats.max_result_bytes, len(serialized.encode()))
                fn.stats.results_by_run[_run_id(event)] += 1
        except Exception as exc:
            with self._lock:
                fn.stats.errors += 1
            response = _error_response(exc, context)
        finally:
            self._local.depth -= 1
            cpu = time.thread_time() - cpu_start
            with self._lock:
                fn.stats.active -= 1
                fn.stats.cpu_seconds += cpu
        return response


def _run_id(event: Any) -> str:
    run = event.get("run") if isinstance(event, dict) else None
    return str(run.get("run_id", "")) if isinstance(run, dict) else ""


def throttled() -> ClientError:
    """Lambda's answer to an Invoke over the function's reserved concurrency (adaptation `reserved-concurrency`):
    429 TooManyRequestsException, reason ReservedFunctionConcurrentInvocationLimitExceeded. Step Functions sees it
    as the error Lambda.TooManyRequestsException."""
    # Lambda's error shape: Reason and Type beside Error, which botocore's typed response does not list.
    response: Any = {
        "Error": {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."},
        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        "Type": "User",
        "ResponseMetadata": {
            "HTTPStatusCode": 429,
            "RequestId": str(uuid.uuid4()),
            "HostId": "",
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        },
    }
    return ClientError(response, "Invoke")


def lambda_module(runtime: InProcessRuntime, name: str) -> Any:
    """A module of the Lambda code as the handlers import it (from the asset, unless already loaded)."""
    put_on_path(runtime.functions[0].asset_dir)
    return importlib.import_module(name)


def foreign_compiled(asset: Path) -> list[str]:
    """The asset's top-level packages holding extension modules this interpreter cannot load (built for Lambda's
    Python, e.g. msgspec's _core.cpython-314-x86_64-linux-gnu.so under the engine's 3.11)."""
    # A module `m` loads from m + one of these suffixes exactly (".so" alone means a file named m.so).
    here = set(importlib.machinery.EXTENSION_SUFFIXES)
    found = set()
    for ext in asset.glob("*/**/*.so"):
        if "." + ext.name.split(".", 1)[1] not in here:
            found.add(ext.relative_to(asset).parts[0])
    return sorted(found)


def put_on_path(asset: Path) -> None:
    """Put the asset first on sys.path, as Lambda's /var/task is. Its compiled packages built for another Python
    are imported from the engine's own environment first (requirements.txt installs the same pins), so the
    handlers get a copy this interpreter can load instead of an ImportError."""
    entry = str(asset)
    if entry in sys.path:
        return
    for package in foreign_compiled(asset):
        with contextlib.suppress(ImportError):  # not installed here: the handler fails as it would have
            importlib.import_module(package)
    sys.path.insert(0, entry)


def _error_response(exc: Exception, context: LambdaContext) -> dict[str, Any]:
    """An Invoke response for an unhandled error, shaped as the Python Lambda runtime shapes it."""
    return {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "Payload": {
            "errorMessage": str(exc),
            "errorType": getattr(exc, "error_type", type(exc).__name__),
            "requestId": context.aws_request_id,
            "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
        },
    }
