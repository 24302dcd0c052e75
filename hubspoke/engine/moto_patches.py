"""The engine's patches of private moto internals (see adaptations.py), written for one moto version.

Each patch replaces a private function or class attribute of moto's interpreter, so a different moto may
move or change it silently: the engine refuses to start on any moto but MOTO_VERSION.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any

from hubspoke import localnet
from hubspoke.engine.clock import SimulatedTaskTime
from hubspoke.engine.direct_dynamodb import (
    install_direct_dynamodb,
    install_lean_dynamodb_results,
    install_parsed_conditions,
)
from hubspoke.engine.gate import ReadWriteGate
from hubspoke.engine.patching import patched
from hubspoke.engine.runtime import InProcessRuntime, lambda_module

# The moto these patches were written and tested for; constraints.txt pins the same (a test checks).
MOTO_VERSION = "5.2.5"


class MotoVersionError(RuntimeError):
    """The installed moto is not the one the engine's patches were written for."""


def check_moto_version() -> None:
    """Fail, saying what to do, unless the installed moto is MOTO_VERSION."""
    import moto

    installed = str(moto.__version__)
    if installed != MOTO_VERSION:
        raise MotoVersionError(
            f"the local engine patches private internals of moto {MOTO_VERSION}, but moto {installed} is "
            f"installed. Install the pinned version (pip install -c constraints.txt -r requirements-dev.txt, "
            f"or `make setup` in a fresh .venv). To move to moto {installed}, check each patch in "
            f"hubspoke/engine/moto_patches.py and hubspoke/engine/limits.py against it, run "
            f"tests/e2e/test_adaptations.py and tests/e2e/test_limits.py, then change MOTO_VERSION and the "
            f"moto pin in constraints.txt together."
        )


_MOTO_GATE = ReadWriteGate()


def _serialized(call: Callable[..., Any]) -> Callable[..., Any]:
    """Keep table-iterating reads apart from everything else in moto (adaptation `serialized-moto`)."""

    @functools.wraps(call)
    def gated(self: Any, event_name: str, *args: Any, **kwargs: Any) -> Any:
        with _MOTO_GATE.enter(event_name):
            return call(self, event_name, *args, **kwargs)

    return gated


def install_interpreter_patches(
    stack: ExitStack, runtime: InProcessRuntime, scale: float, halt: threading.Event
) -> None:
    """Install the adaptations to moto's interpreter (see ADAPTATIONS)."""
    from moto.core import botocore_stubber
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    # Adaptation `serialized-start`: moto looks for an execution of the same name, then adds one, without a lock;
    # two starts of one name at once both started (a redelivery ran every target twice).
    start = _one_at_a_time(StepFunctionsParserBackend.start_execution, threading.Lock())

    @functools.wraps(start)
    def start_one_at_a_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        execution = start(self, *args, **kwargs)
        _until_evaluating(execution)
        return execution

    stack.enter_context(patched(StepFunctionsParserBackend, "start_execution", start_one_at_a_time))
    _install_atomic_writes(stack)
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.item_reader_decl import ItemReader
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

    stack.enter_context(patched(map_worker.DistributedItemProcessorWorker, "_eval_pool", iterative_eval_pool))
    stack.enter_context(patched(ItemReader, "_eval_body", _item_reader_failed(ItemReader._eval_body)))
    stack.enter_context(
        patched(botocore_stubber.BotocoreStubber, "__call__", _serialized(botocore_stubber.BotocoreStubber.__call__))
    )
    stack.enter_context(patched(lambda_eval_utils, "_invoke_lambda_function", invoke_integration))
    stack.enter_context(patched(lambda_eval_utils, "exec_lambda_function", exec_function))
    # Retry intervals on the scaled clock; a stopped run does not wait out its backoff.
    scaled_time = SimpleNamespace(sleep=lambda seconds: halt.wait(seconds * scale))
    stack.enter_context(patched(retrier_decl, "time", scaled_time))
    stack.enter_context(patched(wait_function.WaitFunction, "_wait_interval", scaled_wait))
    # Task timeouts: the deadline event measures a task on the simulated clock (see SimulatedTaskTime).
    task_time = SimulatedTaskTime(scale, halt)
    runtime.on_invoke = lambda fn: task_time.start_invocation(fn.timeout_seconds / scale)
    stack.enter_context(patched(execute_state, "threading", SimpleNamespace(Event=task_time.deadline_event)))
    stack.enter_context(patched(execute_state, "Thread", task_time.tracked_thread))
    clock = lambda_module(runtime, "shared.clock")
    stack.enter_context(patched(clock, "time", SimpleNamespace(sleep=task_time.sleep, monotonic=time.monotonic)))
    # Parsed JSONPath objects are immutable, so one per expression is safe across threads.
    original_parse = json_path.parse  # type: ignore[attr-defined]
    stack.enter_context(patched(json_path, "parse", functools.lru_cache(maxsize=4096)(original_parse)))
    # ResultPath parses with jsonpath_ng's plain parser (json_path uses its extended one): a cache of its own.
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    result_parse = vars(result_path)["parse"]  # jsonpath_ng's, imported there, not re-exported
    stack.enter_context(patched(result_path, "parse", functools.lru_cache(maxsize=4096)(result_parse)))
    _install_lean_copies(stack)
    _install_cached_action_names(stack)
    install_direct_dynamodb(stack, _MOTO_GATE)
    install_lean_dynamodb_results(stack)
    install_parsed_conditions(stack)


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists, strings, numbers, booleans, None), several times faster than
    copy.deepcopy, which keeps a memo of every object it meets; anything else is copied by copy.deepcopy. Unlike
    deepcopy, one object met twice becomes two copies: state data are values, never compared by identity."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)


def _install_lean_copies(stack: ExitStack) -> None:
    """Adaptation `json-copies`: moto's interpreter deep-copies a state's input, result and frames several times per
    state (a tenth of the engine's CPU per spoke); those are JSON documents, copied here with json_copy."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.common.string import string_expression
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.eval import environment, states

    lean = SimpleNamespace(deepcopy=json_copy)
    for module in (states, execute_state, environment, string_expression, result_path):
        stack.enter_context(patched(module, "copy", lean))


def _install_cached_action_names(stack: ExitStack) -> None:
    """Adaptation `cached-action-names`: moto lists a response class's methods (inspect.getmembers) on every request
    to check the action exists, about 0.1 ms a request; the list is computed once per class here. The engine adds no
    method to a response class while it runs (its patches replace methods), so the list stays what moto computes."""
    from moto.core import responses
    from moto.core.utils import method_names_from_class

    names = functools.lru_cache(maxsize=None)(lambda clazz: frozenset(method_names_from_class(clazz)))
    stack.enter_context(patched(responses, "method_names_from_class", names))


def _install_atomic_writes(stack: ExitStack) -> None:
    """Adaptation `atomic-writes`: moto reads an item, checks the write's condition, then writes, without a lock,
    so two conditional writes of one item at the same moment could both pass (two hubs both claimed one run).
    DynamoDB applies each single-item write atomically; here they enter moto's table one at a time."""
    from moto.dynamodb.models import DynamoDBBackend

    writing = threading.RLock()  # re-entrant: a transaction or a batch writes through put_item
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        stack.enter_context(patched(DynamoDBBackend, name, _one_at_a_time(getattr(DynamoDBBackend, name), writing)))


def _one_at_a_time(call: Callable[..., Any], lock: threading.Lock | threading.RLock) -> Callable[..., Any]:
    """`call` under `lock`: what moto checks and then changes without a lock of its own happens as one step."""

    @functools.wraps(call)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return call(self, *args, **kwargs)

    return locked


def _until_evaluating(execution: Any, limit_seconds: float = 30.0) -> None:
    """Return from StartExecution once moto's worker thread has built the execution's environment (adaptation
    `serialized-start`): moto answers before that thread runs, and a StopExecution in between failed inside moto
    (`'NoneType' object has no attribute 'set_stop'`), which Step Functions never does."""
    worker = getattr(execution, "exec_worker", None)
    if worker is None:  # an execution that had already ended, returned again by an idempotent start
        return
    deadline = time.monotonic() + limit_seconds
    tick = threading.Event()
    # No event to wait on: moto assigns the environment inside its thread. On a busy machine the thread may not
    # be scheduled for a while; the limit only keeps a broken moto from hanging the caller.
    while worker.env is None and time.monotonic() < deadline:
        tick.wait(0.001)


def _item_reader_failed(original: Any) -> Any:
    """A Distributed Map whose ItemReader call fails (S3 GetObject refused) fails with States.ItemReaderFailed,
    as on AWS, so the Map's Retry and Catch on that name apply (adaptation `item-reader-failed`); moto let the
    SDK's exception through, which its interpreter turned into States.Runtime."""
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    @functools.wraps(original)
    def _eval_body(self: Any, env: Any) -> None:
        try:
            original(self, env)
        except FailureEventException:
            raise
        except Exception as exc:
            error = StatesErrorName(typ=StatesErrorNameType.StatesItemReaderFailed)
            cause = f"The Map state could not read its items: {exc}"
            details: Any = {"taskFailedEventDetails": {"error": error.error_name, "cause": cause}}
            event = FailureEvent(
                env=env, error_name=error, event_type=HistoryEventType.TaskFailed, event_details=details
            )
            raise FailureEventException(failure_event=event) from exc

    return _eval_body


def route_pinned_endpoint_to_moto(stack: ExitStack, endpoint: str) -> None:
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

    stack.enter_context(patched(botocore_stubber.BotocoreStubber, "__call__", pinned))
