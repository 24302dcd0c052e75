"""Spoke logic: dispatch to the operation, record the outcome in the ledger, let failures propagate."""

from __future__ import annotations

from shared import clock
from shared.errors import TargetError
from shared.ledger import Ledger
from shared.models import SpokeInput, SpokeResult
from shared.observability import logger
from shared.operations import OPERATIONS, OperationContext


def run_spoke(item: SpokeInput, ledger: Ledger, ttl_days: int, ctx: OperationContext) -> SpokeResult:
    """Run the operation once. Errors are re-raised for Step Functions' Retry/Catch after noting the attempt."""
    started = clock.monotonic()
    try:
        operation = OPERATIONS.get(item.run.operation)
        if operation is None:
            raise TargetError(f"unknown operation '{item.run.operation}'")
        outcome = operation.run(operation.params.model_validate(item.run.params), item, ctx)
    except Exception as exc:
        # Retries and the final `failed` row belong to the state machine; here we only count the attempt.
        ledger.record_attempt_error(item.run.run_id, item.target.id, item.attempt, f"{type(exc).__name__}: {exc}")
        raise
    result = SpokeResult(
        run_id=item.run.run_id,
        target_id=item.target.id,
        status=outcome.status,
        attempts=item.attempt,
        duration_ms=round((clock.monotonic() - started) * 1000),
        detail=outcome.detail,
    )
    if not ledger.mark_finished(result, ttl_days):
        logger.warning("late result ignored: the run already recorded this target as failed (timeout?)")
    return result
