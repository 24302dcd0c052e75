"""Engine adaptation `kept-map-runs`: ListMapRuns and DescribeMapRun answer whatever state executions are in.

moto keeps a Distributed Map's run records (item counts) in an execution's interpreter environment, which its
worker thread builds after StartExecution has returned: until then ListMapRuns on that execution, and
DescribeMapRun of any Map Run (it scans every execution), fail with AttributeError (a 500). The engine keeps
each record, by execution, from when the Map creates it, and answers both from there.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any


class MapRunRegistry:
    """Every Map Run record the interpreter created, by execution ARN (the records themselves: counts stay live)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_execution: dict[str, list[Any]] = {}
        self.by_arn: dict[str, Any] = {}

    def add(self, record: Any) -> None:
        with self._lock:
            self.by_execution.setdefault(record.execution_arn, []).append(record)
            self.by_arn[record.map_run_arn] = record


def install(stack: ExitStack) -> MapRunRegistry:
    """Patch moto's pool manager and backend for the engine's lifetime."""
    from moto.stepfunctions.parser import models
    from moto.stepfunctions.parser.api import ResourceNotFound
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record import (
        MapRunRecordPoolManager,
    )

    registry = MapRunRegistry()
    original_add = MapRunRecordPoolManager.add
    backend = models.StepFunctionsParserBackend

    def add(self: Any, record: Any) -> None:
        original_add(self, record)
        registry.add(record)

    def describe_map_run(self: Any, map_run_arn: str) -> dict[str, Any]:
        record = registry.by_arn.get(map_run_arn)
        if record is None:
            raise ResourceNotFound(f"Map Run {map_run_arn} does not exist")
        described: dict[str, Any] = record.describe()
        return described

    def list_map_runs(self: Any, execution_arn: str) -> dict[str, Any]:
        self.describe_execution(execution_arn=execution_arn)  # ExecutionDoesNotExist, as before
        return {"mapRuns": [r.list_item() for r in registry.by_execution.get(execution_arn, [])]}

    for owner, name, value in (
        (MapRunRecordPoolManager, "add", add),
        (backend, "describe_map_run", describe_map_run),
        (backend, "list_map_runs", list_map_runs),
    ):
        original = getattr(owner, name)
        setattr(owner, name, value)
        stack.callback(setattr, owner, name, original)
    return registry
