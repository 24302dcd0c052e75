"""Step Functions quotas that moto's interpreter does not enforce, enforced by the local engine as AWS does.

- A state's input, and a Map's gathered results (when it has no ResultWriter), may not reach 256 KiB: the state
  fails with States.DataLimitExceeded, which no Retry or Catch matches (AWS: States.ALL cannot catch it). moto
  already checks a state's output and a task's result; it let States.ALL catch the latter.
- An execution's history holds at most 25,000 events: when event 25,000 would not be ExecutionSucceeded, the
  execution fails there (ExecutionFailed is that event). A Distributed Map's children have histories of their own.
- An integer ToleratedFailurePercentage (valid ASL; CDK writes 100) is given to moto as a float, which is all its
  parser accepts.

Each is an entry of hubspoke.engine.ADAPTATIONS; tests/e2e/test_limits.py exercises them.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

STATE_DATA_LIMIT_BYTES = 262_144  # 256 KiB: a state's input or output, a task's result, a Map's gathered results
HISTORY_EVENT_LIMIT = 25_000  # events in one execution's history
HISTORY_LIMIT_CAUSE = f"The execution reached the maximum execution history size of {HISTORY_EVENT_LIMIT} events."
_TERMINAL_EVENTS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")


def payload_bytes(value: Any) -> int:
    """The size Step Functions counts: the value as compact JSON, in UTF-8 bytes."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


@dataclass(frozen=True)
class GatheredResults:
    """What one Map run gathered from its children (before any ResultWriter takes it to S3)."""

    state: str
    children: int
    bytes: int
    result_writer: bool


@dataclass
class LimitRecord:
    """What the limits saw, for tests and benchmarks: each Map run's gathered results."""

    gathered: list[GatheredResults] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, results: GatheredResults) -> None:
        with self._lock:
            self.gathered.append(results)


def adapt_definition(definition: str) -> str:
    """The definition as moto's parser accepts it: an integer ToleratedFailurePercentage written as a float."""
    document = json.loads(definition)

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            if isinstance(state.get("ToleratedFailurePercentage"), int):
                state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
            for nested in ("ItemProcessor", "Iterator"):
                if nested in state:
                    walk(state[nested]["States"])
            for branch in state.get("Branches", []):
                walk(branch["States"])

    walk(document["States"])
    return json.dumps(document, separators=(",", ":"))


def _failure(env: Any, error_name: Any, cause: str) -> Exception:
    """moto's exception for a state failure with this error name and cause (failing the execution if uncaught)."""
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )

    details: Any = {"executionFailedEventDetails": {"error": error_name.error_name, "cause": cause}}
    return FailureEventException(
        failure_event=FailureEvent(
            env=env, error_name=error_name, event_type=HistoryEventType.TaskFailed, event_details=details
        )
    )


def _data_limit_exceeded(env: Any, state_name: str, what: str, size: int) -> Exception:
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    cause = (
        f"The state '{state_name}' has {what} of {size} bytes, over the maximum of {STATE_DATA_LIMIT_BYTES} "
        "bytes (256 KiB)."
    )
    return _failure(env, StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded), cause)


def _gathering_map_run(local: threading.local) -> Callable[[Any], Any]:
    """Remember in `local` what a distributed Map run gathered, for its state's check."""

    def wrap(original: Any) -> Any:
        def _map_run(self: Any, env: Any, eval_input: Any) -> None:
            original(self, env, eval_input)
            local.gathered = env.stack[-1]

        return _map_run

    return wrap


def _limited_map(record: LimitRecord, local: threading.local) -> Callable[[Any], Any]:
    """A Map state fails with States.DataLimitExceeded when its gathered results (without a ResultWriter) reach
    the limit; each run's gathered size goes to `record`."""

    def wrap(original: Any) -> Any:
        def _eval_execution(self: Any, env: Any) -> None:
            local.gathered = None
            original(self, env)
            writer = self.result_writer is not None
            # A distributed Map's results as gathered (moto's ResultWriter then drops them); an inline Map's output.
            gathered = local.gathered if local.gathered is not None else ([] if writer else env.stack[-1])
            size = payload_bytes(gathered)
            count = len(gathered) if isinstance(gathered, list) else 0
            record.add(GatheredResults(self.name, count, size, writer))
            # With a ResultWriter the results go to S3 and the state holds only where they went.
            if not writer and size >= STATE_DATA_LIMIT_BYTES:
                raise _data_limit_exceeded(env, self.name, f"gathered results of {count} children", size)

        return _eval_execution

    return wrap


def _limited_input(original: Any) -> Any:
    """A state whose input reaches the limit fails with States.DataLimitExceeded."""

    def _eval_body(self: Any, env: Any) -> None:
        size = payload_bytes(env.states.get_input())
        if size >= STATE_DATA_LIMIT_BYTES:
            raise _data_limit_exceeded(env, self.name, "an input", size)
        original(self, env)

    return _eval_body


def _terminal_data_limit(original: Any) -> Any:
    """States.DataLimitExceeded and the history quota are matched by no Retry or Catch (not even States.ALL)."""

    def _eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        name = getattr(error_name, "error_name", None)
        if name == "States.DataLimitExceeded" or isinstance(error_name, _HistoryQuota):
            env.stack.pop()
            env.stack.append(False)  # neither Retry nor Catch (not even States.ALL) matches it
            return
        original(self, env)

    return _eval_body


def _root_event_manager(original: Any) -> Any:
    """An execution's own event manager counts its history events."""

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # Only an execution's own history counts; a Map run's children get a manager made elsewhere.
        self.event_manager._hubspoke_history = _History()

    return init


def _bounded_history(original: Any) -> Any:
    """At the history quota the execution fails; nothing else is recorded after."""

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        history: _History | None = getattr(self, "_hubspoke_history", None)
        if history is None:
            return int(original(self, context, event_type, *args, **kwargs))
        with history.lock:
            terminal = str(getattr(event_type, "value", event_type)) in _TERMINAL_EVENTS
            if history.exceeded and not terminal:
                return history.last_id  # the execution is failing: nothing else is recorded
            if history.published == HISTORY_EVENT_LIMIT - 1 and not terminal:
                history.exceeded = True
                raise _history_limit_exceeded(context)
            history.published += 1
            history.last_id = int(original(self, context, event_type, *args, **kwargs))
            return history.last_id

    return add_event


def install(stack: ExitStack) -> LimitRecord:
    """Patch moto's interpreter for the quotas above until `stack` closes; returns what they record."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as distributed,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    record = LimitRecord()
    local = threading.local()  # the Map run being gathered in this thread, for its state's check

    def patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, functools.wraps(original)(make(original)))
        stack.callback(setattr, owner, name, original)

    patch(distributed.DistributedIterationComponent, "_map_run", _gathering_map_run(local))
    patch(StateMap, "_eval_execution", _limited_map(record, local))
    patch(CommonStateField, "_eval_body", _limited_input)
    patch(ErrorEqualsDecl, "_eval_body", _terminal_data_limit)
    patch(Environment, "__init__", _root_event_manager)
    patch(EventManager, "add_event", _bounded_history)
    return record


@dataclass
class _History:
    lock: threading.Lock = field(default_factory=threading.Lock)
    published: int = 0
    last_id: int = 0
    exceeded: bool = False


class _HistoryQuota:
    """Marker mixed into the error name of a history-quota failure, so no Retry or Catch matches it."""


def _history_limit_exceeded(context: Any) -> Exception:
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    class HistoryQuotaError(StatesErrorName, _HistoryQuota):
        pass

    # Raised where events are added, which knows the history but not the state's environment.
    env = SimpleNamespace(next_state_name=None, event_history_context=context)
    return _failure(env, HistoryQuotaError(typ=StatesErrorNameType.StatesRuntime), HISTORY_LIMIT_CAUSE)
