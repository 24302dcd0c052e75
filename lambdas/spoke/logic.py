"""Spoke logic: dispatch to the operation, record the outcome in the ledger, let failures propagate."""

from __future__ import annotations

from shared import clock
from shared.errors import RateLimitError, ResultTooLargeError, TargetError
from shared.ledger import Ledger, now_iso
from shared.models import MAX_RESULT_BYTES, SpokeInput, SpokeResult
from shared.observability import logger
from shared.operations import OPERATIONS, OperationContext


def run_spoke(item: SpokeInput, ledger: Ledger, ttl_days: int, ctx: OperationContext) -> SpokeResult:
    """Run the operation once. Errors are re-raised for Step Functions' Retry/Catch after noting the attempt."""
    started = clock.monotonic()
    # When this attempt started: the first attempt's start stays on the row (the summary's peak concurrency).
    started_at = now_iso()
    skipped = circuit_open(item, ledger, ttl_days)
    if skipped is not None:
        return skipped
    try:
        operation = OPERATIONS.get(item.run.operation)
        if operation is None:
            raise TargetError(f"unknown operation '{item.run.operation}'")
        outcome = operation.run(operation.params.model_validate(item.run.params), item, ctx)
        result = SpokeResult(
            run_id=item.run.run_id,
            target_id=item.target.id,
            status=outcome.status,
            attempts=item.attempt,
            duration_ms=round((clock.monotonic() - started) * 1000),
            detail=outcome.detail,
        )
        check_result_size(result)
        # Inside the try: an attempt whose success row was refused (a throttled ledger) is an attempt too.
        finished = ledger.mark_finished(
            result,
            ttl_days,
            started_at=started_at,
            wave=item.wave,
            first_attempt=item.first_contact,
            rate_limit_waits=item.rate_limit_waits,
        )
    except Exception as exc:
        # Retries and the final `failed` row belong to the state machine; here we only count the attempt.
        first_rate_limit = ledger.record_attempt_error(
            item.run.run_id,
            item.target.id,
            item.attempt,
            f"{type(exc).__name__}: {exc}",
            started_at=started_at,
            rate_limited=isinstance(exc, RateLimitError),
        )
        if first_rate_limit and item.run.adaptive_concurrency and item.wave is not None:
            # Once per target, in its wave's count: the gate halves the next wave's concurrency on it.
            ledger.count_rate_limited(item.run.run_id, item.wave)
        raise
    if not finished:
        logger.warning("late result ignored: the run already recorded this target as failed (timeout?)")
    elif item.run.circuit_breaker is not None and item.run.circuit_breaker.percent is not None:
        ledger.count_success(item.run.run_id)  # a percentage needs the finished count, not only failures
    return result


def circuit_open(item: SpokeInput, ledger: Ledger, ttl_days: int) -> SpokeResult | None:
    """With a circuit breaker, the first attempt reads the run's counters once (one GetItem); when the breaker
    is open the target is recorded skipped with the reason and never touched. Later attempts do not read again:
    a target already being worked on is finished. A failed read lets the spoke go on (the breaker is a brake,
    not a gate the run depends on)."""
    breaker = item.run.circuit_breaker
    if breaker is None or not item.first_contact:
        return None
    try:
        counters = ledger.read_counters(item.run.run_id)
    except Exception as exc:
        logger.warning("circuit breaker not checked: counters unreadable", extra={"cause": str(exc)})
        return None
    if counters is None or not breaker.is_open(counters.failures, counters.finished):
        return None
    result = SpokeResult(
        run_id=item.run.run_id,
        target_id=item.target.id,
        status="skipped",
        attempts=0,  # the target was not touched
        duration_ms=0,
        detail={"reason": breaker.reason()},
    )
    ledger.mark_finished(result, ttl_days, started_at=now_iso(), wave=item.wave)
    logger.info("circuit open: target skipped", extra={"failures": counters.failures, "reason": breaker.reason()})
    return result


def check_result_size(result: SpokeResult) -> None:
    """Refuse a result too large for the ledger row and the state: the target fails naming the size, instead of
    Step Functions failing the task with States.DataLimitExceeded, which no Catch matches (the target would end
    with no failure recorded, or with a success row for a task Step Functions counts failed)."""
    size = len(result.model_dump_json().encode())
    if size > MAX_RESULT_BYTES:
        raise ResultTooLargeError(
            f"the operation's result is {size} bytes; a spoke's result may be at most {MAX_RESULT_BYTES} bytes "
            f"(it is the ledger row's detail and the task's output, which Step Functions limits to 256 KiB)"
        )
