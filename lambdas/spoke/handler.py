"""Spoke Lambda handler: thin; the work is in spoke.logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import credentials
from shared.aws import client
from shared.config import SpokeEnv, config
from shared.credentials import CrossAccount
from shared.ledger import Ledger
from shared.models import SpokeInput
from shared.observability import emit_metric, emit_metrics, lambda_context, log_context, logger, tracer
from shared.operations import OperationContext
from spoke.logic import run_spoke


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: {"run": ..., "target": ..., "retry_count": n} (built by the Map's ItemSelector)."""
    item = parse(event=event, model=SpokeInput)
    lambda_context.set(context)
    with log_context(run_id=item.run.run_id, target_id=item.target.id, attempt=item.attempt):
        try:
            cfg = config(SpokeEnv)
            target = credentials.for_target(
                item.target.id, item.target.model_extra or {}, item.run.run_id, CrossAccount.from_env(cfg)
            )
            ctx = OperationContext(env=cfg, ecs=client("ecs"), dynamodb=client("dynamodb"), aws=target)
            result = run_spoke(item, Ledger(client("dynamodb"), cfg.ledger_table), cfg.ledger_ttl_days, ctx)
        except Exception as exc:
            error = type(exc).__name__
            emit_metric("SpokeAttemptFailed", 1, operation=item.run.operation, error=error)
            logger.warning("spoke attempt failed", extra={"error": error, "cause": str(exc)})
            raise
        outcome = {
            "SpokeSucceeded": (1.0, MetricUnit.Count),
            "SpokeDuration": (float(result.duration_ms), MetricUnit.Milliseconds),
        }
        if item.retry_count:
            outcome["SpokeRetries"] = (float(item.retry_count), MetricUnit.Count)
        emit_metrics(outcome, operation=item.run.operation)
        logger.info("spoke finished", extra={"status": result.status, "duration_ms": result.duration_ms})
    return result.model_dump(mode="json")
