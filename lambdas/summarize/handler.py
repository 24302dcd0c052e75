"""Summarize Lambda handler: thin; the work is in summarize.logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared.aws import client
from shared.config import SummarizeEnv, config
from shared.ledger import Ledger
from shared.models import RunContext
from shared.observability import log_context, logger, tracer
from summarize.logic import compact, emit_run_metrics, run_summarize


class SummarizeEvent(BaseModel):
    """What the Summarize task sends (stacks/workflow.py)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run: RunContext
    # The run's own threshold; absent: the deployment's.
    failure_threshold_percent: float | None = None
    notes: dict[str, Any] | None = None
    waves_run: int = 0
    # The run's max_concurrency: each wave's, unless adaptive concurrency recorded another.
    max_concurrency: int | None = None
    execution_started_at: str | None = None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: {"run": ..., "failure_threshold_percent": pct} (the hub's output)."""
    cfg = config(SummarizeEnv)
    parsed = parse(event=event, model=SummarizeEvent)
    run = parsed.run
    threshold = (
        parsed.failure_threshold_percent
        if parsed.failure_threshold_percent is not None
        else cfg.failure_threshold_percent
    )
    with log_context(run_id=run.run_id):
        ledger = Ledger(client("dynamodb"), cfg.ledger_table)
        summary = run_summarize(
            run, threshold, ledger, client("s3"), cfg.bucket, parsed.notes, parsed.waves_run, parsed.max_concurrency
        )
        emit_run_metrics(summary, parsed.execution_started_at)
        logger.info(
            "run summarized",
            extra={"outcome": summary.outcome, "total": summary.total, "failed": summary.failed, "lost": summary.lost},
        )
    return compact(summary).model_dump(mode="json")
