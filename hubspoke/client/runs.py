"""Operate runs of a Deployment with boto3: start, list, follow, report, stop. The same calls on AWS and on the
embedded engine (moto answers them in-process)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubspoke.client.deployment import Deployment
from hubspoke.engine import Progress, RunResult
from hubspoke.report import build_summary
from stacks.ledger_index import FAILED_INDEX, FAILED_KEY

# An execution's input may not exceed 262,144 bytes; keep room for the rest of the request.
MAX_INLINE_TARGET_BYTES = 200_000
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# The ledger attributes the HTML timeline reads (hubspoke/timeline.py); the cause is in the summary already.
TIMELINE_ATTRIBUTES = (
    "target_id", "status", "attempts", "started_at", "updated_at", "duration_ms", "detail", "rate_limit_waits"
)  # fmt: skip


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    started: datetime
    stopped: datetime | None
    totals: dict[str, int] | None  # from the run's report, when Summarize wrote one


class CallCounter:
    """Counts the AWS calls a client makes (the cost of a progress poll is measured with it)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


class RunClient:
    """One Deployment's runs. `sleep` and `clock` are injected so tests never wait for real."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deployment = deployment
        self.sfn = deployment.client("stepfunctions")
        self.s3 = deployment.client("s3")
        self.dynamodb = deployment.client("dynamodb")
        self.sleep = sleep
        self.clock = clock
        self.counter = CallCounter()
        self._totals: dict[str, int] = {}  # run id -> the hub's target count, once known
        for client in (self.sfn, self.s3, self.dynamodb):
            client.meta.events.register("before-call.*.*", self.counter)

    # -- starting ------------------------------------------------------------------------------

    def execution_arn(self, run_id: str) -> str:
        return self.deployment.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"

    def start(self, request: dict[str, Any]) -> str:
        """Start a run named after its run id; a static target list too large for the input goes via S3."""
        run_id = str(request.get("run_id") or f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{_suffix()}")
        request = {**request, "run_id": run_id}
        source = request.get("source") or {}
        if source.get("type") == "static" and len(json.dumps(source.get("targets", []))) > MAX_INLINE_TARGET_BYTES:
            key = f"inputs/{run_id}/targets.json"
            body = json.dumps(source["targets"], separators=(",", ":")).encode()
            self.s3.put_object(Bucket=self.deployment.bucket, Key=key, Body=body, ContentType="application/json")
            request["source"] = {"type": "s3-manifest", "bucket": self.deployment.bucket, "key": key}
        self.sfn.start_execution(
            stateMachineArn=self.deployment.state_machine_arn, name=run_id, input=json.dumps(request)
        )
        return run_id

    def stop(self, run_id: str) -> None:
        self.sfn.stop_execution(
            executionArn=self.execution_arn(run_id), error="Stopped", cause="stopped with `hubspoke stop`"
        )

    # -- reading -------------------------------------------------------------------------------

    def describe(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.sfn.describe_execution(executionArn=self.execution_arn(run_id))
        return result

    def progress(self, run_id: str, execution_arn: str | None = None) -> Progress:
        """Done from the Map Runs' item counts, failed from the ledger's sparse index of failed rows, total from
        the hub's output.

        Per poll: DescribeExecution, ListMapRuns, one DescribeMapRun per wave started, and one Query of the failed
        index (one more page per ~1 MB of failed keys): its reads grow with the failed targets only, never with
        the succeeded ones. Once per run, the first poll after the hub: GetExecutionHistory for the total.
        `execution_arn`: the run's execution when it is not named after the run (a delivered event's).
        """
        status, done, total = self.done(run_id, execution_arn)
        failed = self.count_failed(run_id)
        return Progress(
            status=status,
            total=total,
            succeeded=max(done - failed, 0),
            failed=failed,
            pending=max((total or 0) - done, 0),
        )

    def done(self, run_id: str, execution_arn: str | None = None) -> tuple[str, int, int | None]:
        """The run's status, its targets done (succeeded or failed) and its total (None before the first Map)."""
        arn = execution_arn or self.execution_arn(run_id)
        status = self.sfn.describe_execution(executionArn=arn)["status"]
        done = 0
        map_runs = self.sfn.list_map_runs(executionArn=arn).get("mapRuns", [])
        for listed in map_runs:
            counts = self.sfn.describe_map_run(mapRunArn=listed["mapRunArn"]).get("itemCounts", {})
            # Every spoke failure is caught (RecordFailure ends the child), so a failed target is a child that
            # "succeeded": the item counts say how many are done, the ledger which of them failed.
            done += int(counts.get("succeeded", 0)) + int(counts.get("failed", 0)) + int(counts.get("timedOut", 0))
        # Once a Map has started, the hub has discovered every target: its count is the run's total (a Map
        # Run's own total covers its wave only, and moto counts items only as they start).
        total = self._total(run_id, arn) if map_runs else None
        return status, done, total

    def _total(self, run_id: str, execution_arn: str) -> int | None:
        """The hub's target count, from its output in the execution history; kept, since it never changes."""
        if run_id in self._totals:
            return self._totals[run_id]
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 20}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            for event in page.get("events", []):
                exited = event.get("stateExitedEventDetails") or {}
                if event["type"] == "TaskStateExited" and exited.get("name") == "Hub":
                    output = json.loads(exited.get("output") or "{}")
                    if isinstance(output.get("count"), int):  # not a caught refusal (a rate-limit wait)
                        self._totals[run_id] = output["count"]
                        return self._totals[run_id]
            if not page.get("nextToken"):
                return None
            kwargs["nextToken"] = page["nextToken"]

    def count_failed(self, run_id: str) -> int:
        """How many of the run's targets failed: a COUNT Query of the sparse failed index, which holds only failed
        rows (keys only), so it reads the failures and nothing else. Eventually consistent, as every index read."""
        kwargs: dict[str, Any] = {
            "TableName": self.deployment.ledger_table,
            "IndexName": FAILED_INDEX,
            "KeyConditionExpression": "#k = :r",
            "ExpressionAttributeNames": {"#k": FAILED_KEY},
            "ExpressionAttributeValues": {":r": {"S": run_id}},
            "Select": "COUNT",
        }
        count = 0
        while True:
            page = self.dynamodb.query(**kwargs)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def report(self, run_id: str) -> dict[str, Any] | None:
        """The report Summarize wrote to S3 (reports/<run_id>.json), if it ran."""
        from botocore.exceptions import ClientError

        try:
            body = self.s3.get_object(Bucket=self.deployment.bucket, Key=f"reports/{run_id}.json")["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        report: dict[str, Any] = json.loads(body)
        return report

    def summary(self, run_id: str) -> dict[str, Any]:
        """The summary of a finished run (the same table and JSON `run` prints), from AWS-visible data only."""
        desc = self.describe(run_id)
        started, stopped = desc["startDate"], desc.get("stopDate") or desc["startDate"]
        seconds = (stopped - started).total_seconds()
        result = RunResult(
            run_id=run_id,
            execution_arn=desc["executionArn"],
            status=desc["status"],
            error=desc.get("error"),
            cause=desc.get("cause"),
            summary=self.report(run_id),
            real_seconds=seconds,
            simulated_seconds=seconds,
            peak_concurrency=0,  # not visible from AWS APIs; the local engine's own `local run` measures it
            spoke_invocations=0,
            spoke_cpu_ms=0.0,
        )
        summary = build_summary(result, [], 1.0)
        summary.pop("attempts")  # per-target attempts would cost a read of every row; the failed ones are listed
        return summary

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's execution history, every page (at most 25,000 events, Step Functions' own limit)."""
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.execution_arn(run_id), "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page.get("events", []))
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def ledger_rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every ledger row of the run (what the HTML timeline draws), only the attributes it needs: one Query
        page per ~1 MB of rows. Unlike a progress poll this grows with the targets; a report asks for it once."""
        from boto3.dynamodb.types import TypeDeserializer

        names = {f"#p{i}": name for i, name in enumerate(TIMELINE_ATTRIBUTES)}
        kwargs: dict[str, Any] = {
            "TableName": self.deployment.ledger_table,
            "KeyConditionExpression": "run_id = :r",
            "ExpressionAttributeValues": {":r": {"S": run_id}},
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        plain = TypeDeserializer()
        rows: list[dict[str, Any]] = []
        while True:
            page = self.dynamodb.query(**kwargs)
            rows.extend({k: plain.deserialize(v) for k, v in item.items()} for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return rows
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def runs(self, limit: int = 20) -> list[RunInfo]:
        """The most recent runs, newest first, with their report's totals."""
        listed = self.sfn.list_executions(stateMachineArn=self.deployment.state_machine_arn, maxResults=limit)
        infos = []
        for execution in listed.get("executions", []):
            report = self.report(execution["name"])
            totals = (
                {k: int(report.get(k, 0)) for k in ("total", "succeeded", "unchanged", "skipped", "failed", "lost")}
                if report
                else None
            )
            infos.append(
                RunInfo(
                    run_id=execution["name"],
                    status=execution["status"],
                    started=execution["startDate"],
                    stopped=execution.get("stopDate"),
                    totals=totals,
                )
            )
        return sorted(infos, key=lambda r: r.started, reverse=True)

    def follow(
        self, run_id: str, on_progress: Callable[[Progress], None] | None = None, poll_seconds: float = 2.0
    ) -> dict[str, Any]:
        """Poll progress until the run ends, then return its summary. Ctrl-C (KeyboardInterrupt) propagates:
        the caller detaches, the run goes on."""
        while True:
            progress = self.progress(run_id)
            if on_progress is not None:
                on_progress(progress)
            if progress.status in TERMINAL:
                return self.summary(run_id)
            self.sleep(poll_seconds)

    def wait(self, run_id: str, poll_seconds: float = 2.0) -> dict[str, Any]:
        """Poll DescribeExecution until the run ends (a dry run, which starts no spoke); its description."""
        while True:
            described = self.describe(run_id)
            if described["status"] in TERMINAL:
                return described
            self.sleep(poll_seconds)


def _suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:6]
