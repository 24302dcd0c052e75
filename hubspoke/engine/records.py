"""What a local run left behind, read back for tests and the CLI: progress, ledger rows, report, history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubspoke.engine.provision import BUCKET
from hubspoke.engine.runtime import InProcessRuntime, lambda_module

if TYPE_CHECKING:
    from hubspoke.client.deployment import Deployment
    from hubspoke.client.runs import RunClient


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


class RunRecords:
    """Reads of the ledger table, the bucket and execution histories in moto (LocalEngine's, which sets these)."""

    _clients: dict[str, Any]
    table_name: str
    runtime: InProcessRuntime
    spoke_function: str
    _progress_client: RunClient | None = None

    def deployment(self) -> Deployment:
        raise NotImplementedError  # LocalEngine's

    def progress(self, run_id: str, execution_arn: str | None = None) -> Progress:
        """A run's progress without reading its ledger: done and total as `hubspoke follow` reads them (the Map
        Runs' item counts, the hub's output), succeeded from the spoke invocations this engine saw return a
        result for the run; the rest of done failed. Reading the ledger, even the failed index, is a scan of the
        whole table in moto, run alone (adaptation `serialized-moto`): each poll held up every spoke's write,
        longer with every run the engine kept. Approximate while it runs (a spoke that returns after its task
        timed out counts as succeeded here, failed in the report); the report is exact.
        """
        status, done, total = self.progress_reader().done(run_id, execution_arn)
        succeeded = min(self.runtime.function(self.spoke_function).stats.results_by_run[run_id], done)
        pending = max((total or 0) - done, 0)
        return Progress(status=status, total=total, succeeded=succeeded, failed=done - succeeded, pending=pending)

    def progress_reader(self) -> RunClient:
        """The operator client reading progress from this engine (made once: three boto3 clients take a while)."""
        from hubspoke.client.runs import RunClient  # the client imports this package's result types

        if self._progress_client is None:
            self._progress_client = RunClient(self.deployment())
        return self._progress_client

    def _rows(self, run_id: str, projection: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """The run's rows through the Lambdas' own ledger access (one paginator, one conversion)."""
        ledger = lambda_module(self.runtime, "shared.ledger")
        for page in ledger.iter_run_rows(self._clients["dynamodb"], self.table_name, run_id, projection):
            yield from page

    def ledger(self, run_id: str) -> list[dict[str, Any]]:
        """The run's ledger rows as plain dicts (target_id, status, attempts, ...)."""
        return list(self._rows(run_id))

    def report(self, run_id: str) -> dict[str, Any] | None:
        """The report Summarize wrote to S3, if it ran."""
        s3 = self._clients["s3"]
        try:
            body = s3.get_object(Bucket=BUCKET, Key=f"reports/{run_id}.json")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        report: dict[str, Any] = json.loads(body)
        return report

    def objects(self, prefix: str) -> list[str]:
        resp = self._clients["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix)
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
            page = self._clients["stepfunctions"].get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]
