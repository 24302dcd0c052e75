"""Gate Lambda handler: before a wave, set its concurrency and say how long to wait (no sleeping here).

With adaptive concurrency the wave's concurrency follows the previous wave's rate limits (shared/adaptive.py, one
GetItem of the run's counters item); with an API budget it is lowered to what the budget serves, and the
state machine's WaitForBudget state waits for the reset, then calls this again (stacks/workflow/gate.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from shared import adaptive
from shared.aws import client
from shared.budget import decide
from shared.config import GateEnv, config
from shared.ledger import Ledger
from shared.models import MAX_CONCURRENCY, RunContext, Waves
from shared.observability import emit_metrics, log_context, logger, tracer
from shared.operations import OPERATIONS


class Wave(BaseModel):
    """The wave being gated, as SelectWave builds it; the gate adds its decision."""

    model_config = ConfigDict(extra="allow", frozen=True)

    key: str
    index: int = Field(ge=0)
    max_concurrency: int = Field(ge=1)
    checks: int = Field(default=0, ge=0)


class GateInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run: RunContext
    wave: Wave
    waves: Waves
    count: int = Field(ge=0)
    # The run's own max_concurrency (the wave's can be lower after a budget check); adaptive concurrency
    # recovers up to it.
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    adaptive_concurrency: bool = False


def adapted(event: GateInput, ledger: Ledger) -> adaptive.Step:
    """The wave's concurrency under adaptive concurrency: the run's max for the first wave, else the AIMD step
    from the previous wave's (as recorded) and its count of rate-limited targets. Recorded for the summary; the
    same on every check of the wave (a budget wait checks again), as it reads only finished waves."""
    top = event.max_concurrency or event.wave.max_concurrency
    index = event.wave.index
    if index == 0:
        decided = adaptive.Step(top, None)
    else:
        counters = ledger.read_counters(event.run.run_id)
        previous = counters.wave(index - 1) if counters is not None else None
        ran_at = previous.concurrency if previous is not None and previous.concurrency is not None else top
        decided = adaptive.next_concurrency(
            ran_at,
            previous.rate_limited if previous is not None else 0,
            event.waves.targets_in(index - 1, event.count),
            top,
        )
    logger.info(
        "wave concurrency adapted", extra={"wave": index, "concurrency": decided.concurrency, "reason": decided.reason}
    )
    return decided


def check(event: GateInput, ledger: Ledger | None = None) -> dict[str, Any]:
    """The wave, with `wait_seconds` (0: go), a possibly lower `max_concurrency`, and the budget seen. With
    adaptive concurrency (and a `ledger`), the concurrency the previous wave's rate limits allow first."""
    operation = OPERATIONS[event.run.operation]
    wave = event.wave
    step = adapted(event, ledger) if event.adaptive_concurrency and ledger is not None else None
    if step is not None:
        # Never above what an earlier check of this wave's budget allowed.
        wave = wave.model_copy(update={"max_concurrency": min(step.concurrency, wave.max_concurrency)})
    if operation.budget is None or operation.requests_per_target is None:
        if step is not None and ledger is not None:
            ledger.record_wave_concurrency(event.run.run_id, wave.index, wave.max_concurrency, step.reason)
        return {**wave.model_dump(), "wait_seconds": 0}
    params = operation.params.model_validate(event.run.params)
    targets = event.waves.targets_in(wave.index, event.count)
    budget = operation.budget(config(GateEnv))
    decision = decide(
        budget,
        targets=targets,
        requests_per_target=operation.requests_per_target(params),
        max_concurrency=wave.max_concurrency,
        checks=wave.checks,
    )
    logger.info(
        "budget checked",
        extra={
            "remaining": budget.remaining,
            "limit": budget.limit,
            "reset_in_seconds": budget.reset_in_seconds,
            "needed": decision.needed,
            "wait_seconds": decision.wait_seconds,
            "reason": decision.reason,
        },
    )
    emit_metrics(
        {
            "BudgetRemaining": (float(budget.remaining), MetricUnit.Count),
            "BudgetWaitSeconds": (float(decision.wait_seconds), MetricUnit.Seconds),
        },
        operation=event.run.operation,
    )
    if step is not None and ledger is not None and decision.wait_seconds == 0:
        # What the wave goes with: the adapted concurrency, lowered to what the budget serves.
        ledger.record_wave_concurrency(event.run.run_id, wave.index, decision.max_concurrency, step.reason)
    return {
        **wave.model_dump(),
        "max_concurrency": decision.max_concurrency,
        "wait_seconds": decision.wait_seconds,
        "checks": wave.checks + 1,
        "budget": {
            "remaining": budget.remaining,
            "limit": budget.limit,
            "needed": decision.needed,
            "reset_in_seconds": round(budget.reset_in_seconds),
            "reason": decision.reason,
        },
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: {"run", "wave", "waves", "count", "max_concurrency", "adaptive_concurrency"} (built by the
    CheckBudget state)."""
    parsed = parse(event=event, model=GateInput)
    with log_context(run_id=parsed.run.run_id, wave=parsed.wave.index):
        ledger = Ledger(client("dynamodb"), config(GateEnv).ledger_table) if parsed.adaptive_concurrency else None
        return check(parsed, ledger)
