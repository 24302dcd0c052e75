"""Summarize Lambda handler: thin; the work is in summarize.logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.aws import client
from shared.config import SummarizeEnv, config
from shared.ledger import Ledger
from shared.models import RunContext
from shared.observability import log_context, logger, tracer
from summarize.logic import compact, emit_run_metrics, run_summarize


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: {"run": ..., "failure_threshold_percent": pct} (the hub's output)."""
    cfg = config(SummarizeEnv)
    run = RunContext.model_validate(event["run"])
    threshold = float(event.get("failure_threshold_percent", cfg.failure_threshold_percent))
    with log_context(run_id=run.run_id):
        ledger = Ledger(client("dynamodb"), cfg.ledger_table)
        summary = run_summarize(
            run, threshold, ledger, client("s3"), cfg.bucket, event.get("notes"), int(event.get("waves_run", 0))
        )
        emit_run_metrics(summary, event.get("execution_started_at"))
        logger.info(
            "run summarized",
            extra={"outcome": summary.outcome, "total": summary.total, "failed": summary.failed, "lost": summary.lost},
        )
    return compact(summary).model_dump(mode="json")
