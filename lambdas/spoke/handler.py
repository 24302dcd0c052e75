"""Spoke Lambda handler: thin; the work is in spoke.logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.aws import client
from shared.config import config
from shared.ledger import Ledger
from shared.models import SpokeInput
from shared.observability import log_context, logger, tracer
from spoke.logic import run_spoke


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: {"run": ..., "target": ..., "retry_count": n} (built by the Map's ItemSelector)."""
    item = SpokeInput.model_validate(event)
    with log_context(run_id=item.run.run_id, target_id=item.target.id, attempt=item.attempt):
        try:
            cfg = config()
            result = run_spoke(item, Ledger(client("dynamodb"), cfg.ledger_table), cfg.ledger_ttl_days)
        except Exception as exc:
            logger.warning("spoke attempt failed", extra={"error": type(exc).__name__, "cause": str(exc)})
            raise
        logger.info("spoke finished", extra={"status": result.status, "duration_ms": result.duration_ms})
    return result.model_dump(mode="json")
