"""Summarize logic: stream the ledger, write the full report to S3, return a compact summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from shared.ledger import Ledger
from shared.models import CANARY_FAILED, ManifestLocation, RunContext, Summary
from shared.observability import emit_metric, emit_metrics
from summarize.aggregate import RunAggregate

MAX_FAILED_IN_STATE = 20  # the state payload stays small; the report in S3 lists every failed target
MAX_WAVES_IN_STATE = 20  # likewise; the report lists every wave
STOPPED_BY = "stopped_by"  # the note StopAfterCanary sets (stacks/workflow/waves.py)


def report_key(run_id: str) -> str:
    return f"reports/{run_id}.json"


def run_summarize(
    run: RunContext,
    threshold: float,
    ledger: Ledger,
    s3: Any,
    bucket: str,
    notes: dict[str, Any] | None = None,
    waves_run: int = 0,
    max_concurrency: int | None = None,
) -> Summary:
    notes = dict(notes or {})
    # The state machine's StopAfterCanary says the canary failed: the targets after it never ran.
    canary_stopped = notes.pop(STOPPED_BY, None) == "canary"
    if canary_stopped:
        ledger.skip_after_canary(run.run_id, CANARY_FAILED)
    aggregate = RunAggregate()
    for page in ledger.pages(run.run_id):
        aggregate.add_all(page)
    report = ManifestLocation(bucket=bucket, key=report_key(run.run_id))
    # Adaptive concurrency's per-wave records (one Query of the counters item's own partition), if the run has any.
    counters = ledger.counters_of_finished_run(run.run_id) if run.adaptive_concurrency else None
    waves = aggregate.waves.waves(waves_run, max_concurrency, counters)
    summary = aggregate.summary(run, threshold, report, canary_stopped=canary_stopped).model_copy(
        update={"notes": notes, "waves_run": waves_run, "waves": waves}
    )
    s3.put_object(
        Bucket=bucket,
        Key=report.key,
        Body=summary.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    return summary


def compact(summary: Summary) -> Summary:
    """The summary as the state machine carries it: at most MAX_FAILED_IN_STATE failed targets and the first
    MAX_WAVES_IN_STATE waves (1,000 waves would make 150 KB of the 256 KiB a state may hold)."""
    return summary.model_copy(
        update={
            "failed_targets": summary.failed_targets[:MAX_FAILED_IN_STATE],
            "waves": summary.waves[:MAX_WAVES_IN_STATE],
        }
    )


def emit_run_metrics(summary: Summary, started_at: str | None = None) -> None:
    """Per-run metrics (dimension service only, so one alarm covers every operation)."""
    if started_at:
        started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
        emit_metric("RunDuration", (datetime.now(UTC) - started).total_seconds() * 1000, MetricUnit.Milliseconds)
    # A spoke past its task timeout fails States.Timeout; past its Lambda timeout, Sandbox.Timedout.
    timeouts = sum(summary.failures_by_error.get(e, 0) for e in ("States.Timeout", "Sandbox.Timedout"))
    emit_metrics(
        {
            "RunTargets": (summary.total, MetricUnit.Count),
            "SpokesSucceeded": (summary.succeeded + summary.unchanged + summary.skipped, MetricUnit.Count),
            "SpokesFailed": (summary.failed, MetricUnit.Count),
            "RunLost": (summary.lost, MetricUnit.Count),
            "RunFailureRate": (summary.failure_rate, MetricUnit.Percent),
            "SpokeTimeouts": (timeouts, MetricUnit.Count),
        }
    )
    for error, count in summary.failures_by_error.items():
        emit_metric("SpokeFailures", count, error=error)
