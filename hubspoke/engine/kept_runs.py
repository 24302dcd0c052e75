"""Engine adaptation `kept-runs`: the embedded engine keeps its runs across invocations, as AWS does.

On AWS an execution, its ledger rows and its S3 objects outlive the command that started it. moto keeps
everything in memory, so when an engine ends it writes what AWS would keep of each run it ran under
`<state dir>/runs/<run_id>/` (JSON a person can read), and a new engine loads every stored run back into moto:
ledger rows through the Lambdas' own batch writer, S3 objects, and the finished execution into moto's Step
Functions backend, so ListExecutions and DescribeExecution answer it (the operator client reads nothing else).

A stored run directory holds:
  execution.json   name, ARN, status, input, output, error, cause, start and stop dates (ISO 8601)
  ledger.json      the run's ledger rows, one object per target
  history.json     the execution's history events (GetExecutionHistory answers them; the HTML timeline reads them)
  objects/<key>    the run's S3 objects (reports/<run_id>.json, runs/<run_id>/..., inputs/<run_id>...)
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

from hubspoke.engine.provision import BUCKET
from hubspoke.engine.runtime import lambda_module

EXECUTION_FILE = "execution.json"
LEDGER_FILE = "ledger.json"
HISTORY_FILE = "history.json"
OBJECTS_DIR = "objects"


def object_prefixes(run_id: str) -> tuple[str, ...]:
    """The S3 key prefixes of one run's objects (summarize's report, the hub's manifest and waves, inputs)."""
    return (f"reports/{run_id}.json", f"runs/{run_id}/", f"inputs/{run_id}/", f"inputs/{run_id}.")


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value else None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class RunStore:
    """The runs kept under `root` (`<state dir>/runs`), one directory per run id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run_dirs(self) -> list[Path]:
        """Directories of stored runs (those with an execution.json), oldest name first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if (p / EXECUTION_FILE).is_file())

    def execution(self, run_dir: Path) -> dict[str, Any]:
        stored: dict[str, Any] = json.loads((run_dir / EXECUTION_FILE).read_text())
        return stored

    def keep(
        self, sfn: Any, s3: Any, bucket: str, execution_arn: str, rows: Callable[[str], Iterable[dict[str, Any]]]
    ) -> Path:
        """Write one ended execution, its ledger rows (`rows(run_id)`) and its S3 objects; returns its directory."""
        desc = sfn.describe_execution(executionArn=execution_arn)
        run_id = _run_id(desc)
        run_dir = self.root / str(desc["name"])
        run_dir.mkdir(parents=True, exist_ok=True)
        execution = {
            "name": run_id,
            "executionArn": desc["executionArn"],
            "stateMachineArn": desc["stateMachineArn"],
            "status": desc["status"],
            "input": desc.get("input"),
            "output": desc.get("output"),
            "error": desc.get("error"),
            "cause": desc.get("cause"),
            "startDate": _iso(desc["startDate"]),
            "stopDate": _iso(desc.get("stopDate")),
        }
        ledger = list(rows(run_id))
        (run_dir / LEDGER_FILE).write_text(json.dumps(ledger, indent=1, default=_json_default) + "\n")
        (run_dir / HISTORY_FILE).write_text(json.dumps(_history(sfn, execution_arn), default=_event_default) + "\n")
        paginator = s3.get_paginator("list_objects_v2")
        for prefix in object_prefixes(run_id):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for listed in page.get("Contents", []):
                    target = run_dir / OBJECTS_DIR / listed["Key"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read())
        # Written last: a directory without it (the engine died while keeping) is not a stored run.
        (run_dir / EXECUTION_FILE).write_text(json.dumps(execution, indent=2) + "\n")
        return run_dir

    def restore(
        self,
        state_machine_arn: str,
        s3: Any,
        bucket: str,
        put_rows: Callable[[list[dict[str, Any]]], int],
    ) -> list[str]:
        """Load every stored run into moto; returns the ARNs of the executions restored."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        arn_parts = state_machine_arn.split(":")
        backend = stepfunctions_parser_backends[arn_parts[4]][arn_parts[3]]
        state_machine = backend.describe_state_machine(state_machine_arn)
        restored = []
        for run_dir in self.run_dirs():
            stored = self.execution(run_dir)
            ledger = run_dir / LEDGER_FILE
            if ledger.is_file():
                # parse_float: DynamoDB numbers go in as Decimal (boto3's serializer refuses floats).
                put_rows(json.loads(ledger.read_text(), parse_float=Decimal))
            objects = run_dir / OBJECTS_DIR
            for path in sorted(p for p in objects.rglob("*") if p.is_file()) if objects.is_dir() else []:
                s3.put_object(Bucket=bucket, Key=path.relative_to(objects).as_posix(), Body=path.read_bytes())
            history = run_dir / HISTORY_FILE
            events = json.loads(history.read_text()) if history.is_file() else []
            state_machine.executions.append(_execution(stored, events, state_machine, arn_parts[3], arn_parts[4]))
            restored.append(_execution_arn(state_machine_arn, stored["name"]))
        return restored

    def prune(self, days: float, now: datetime.datetime) -> list[str]:
        """Remove stored runs that started more than `days` before `now`; returns their ids."""
        cutoff = now - datetime.timedelta(days=days)
        removed = []
        for run_dir in self.run_dirs():
            started = _date(self.execution(run_dir).get("startDate"))
            if started is not None and started < cutoff:
                shutil.rmtree(run_dir)
                removed.append(run_dir.name)
        return removed


def _run_id(desc: dict[str, Any]) -> str:
    """The run id the hub used: the request's, else the execution's name (as the hub defaults it)."""
    try:
        request = json.loads(desc.get("input") or "{}")
    except json.JSONDecodeError:
        request = None
    given = request.get("run_id") if isinstance(request, dict) else None
    return given if isinstance(given, str) and given else str(desc["name"])


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def _event_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return _json_default(value)


def _execution(
    stored: dict[str, Any], events: list[dict[str, Any]], state_machine: Any, region: str, account: str
) -> Any:
    """A finished execution as moto's Step Functions backend lists and describes it (its plain Execution
    model: no interpreter worker, so nothing runs; the ARN is this engine's, the name the stored one), and whose
    history is the stored one (moto's plain model has none: GetExecutionHistory failed on it)."""
    from moto.stepfunctions.models import Execution

    class KeptExecution(Execution):
        def to_history_output(self) -> dict[str, Any]:
            return {"events": [{**event, "timestamp": _date(event["timestamp"])} for event in events]}

    execution = KeptExecution(
        region_name=region,
        account_id=account,
        state_machine_name=state_machine.name,
        execution_name=stored["name"],
        state_machine_arn=state_machine.arn,
        execution_input=stored.get("input") or "{}",
    )
    execution.start_date = _date(stored["startDate"]) or execution.start_date
    execution.stop_date = _date(stored.get("stopDate"))
    execution.status = stored["status"]
    execution.output = stored.get("output")
    execution.output_details = {"included": True}  # type: ignore[assignment]  # the shape DescribeExecution gives
    execution.error = stored.get("error")
    execution.cause = stored.get("cause")
    return execution


def restore(engine: Any, state_dir: Path) -> Callable[[], None]:
    """Restore the runs stored under `state_dir` into this engine's moto now; returns what keeps every run the
    engine started (to call before moto goes). A run still running then is stopped first: the engine, and
    the run with it, ends with the process."""
    store = RunStore(state_dir / "runs")
    dynamo = lambda_module(engine.runtime, "shared.dynamo")
    restored = store.restore(
        engine.state_machine_arn,
        engine.s3,
        BUCKET,
        lambda rows: int(dynamo.batch_put(engine.dynamodb, engine.table_name, rows)),
    )

    def keep_all() -> None:
        listed = engine.sfn.get_paginator("list_executions").paginate(stateMachineArn=engine.state_machine_arn)
        for page in listed:
            for execution in page["executions"]:
                arn = execution["executionArn"]
                if arn in restored:
                    continue
                if execution["status"] == "RUNNING":
                    engine.sfn.stop_execution(
                        executionArn=arn, error="EngineStopped", cause="the engine running it ended"
                    )
                store.keep(engine.sfn, engine.s3, BUCKET, arn, engine.ledger)

    return keep_all


def install(stack: ExitStack, engine: Any, state_dir: Path) -> None:
    """Restore the stored runs, serve moto on loopback for other processes, and keep this engine's runs when
    `stack` closes: first (while moto is up), before the server stops, so a follower finds the kept run."""
    from hubspoke.engine.serve import serve

    keep = restore(engine, state_dir)
    serve(stack, state_dir, engine.deployment().names())
    stack.callback(keep)
