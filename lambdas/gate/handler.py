"""Gate Lambda handler: read the operation's API budget before a wave; say how long to wait (no sleeping here).

The state machine's WaitForBudget state does the waiting, then calls this again (stacks/workflow.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from shared.budget import decide
from shared.config import GateEnv, config
from shared.models import RunContext, Waves
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


def check(event: GateInput) -> dict[str, Any]:
    """The wave, with `wait_seconds` (0: go), a possibly lower `max_concurrency`, and the budget seen."""
    operation = OPERATIONS[event.run.operation]
    wave = event.wave
    if operation.budget is None or operation.requests_per_target is None:
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
    """Event: {"run", "wave", "waves", "count"} (built by the CheckBudget state)."""
    parsed = parse(event=event, model=GateInput)
    with log_context(run_id=parsed.run.run_id, wave=parsed.wave.index):
        return check(parsed)
