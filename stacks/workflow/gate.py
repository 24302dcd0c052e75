"""The gate: before a wave spawns, ask the gate Lambda the wave's concurrency (adaptive concurrency) and how long
to wait for API budget; wait in a Wait state (no Lambda sleeps) and ask again."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.functions import GATE_TIMEOUT_SECONDS, Functions
from stacks.settings import Settings
from stacks.workflow.invoke import invoke


def _check_budget(scope: Construct, settings: Settings, functions: Functions) -> tasks.LambdaInvoke:
    return invoke(
        scope,
        "CheckBudget",
        functions.gate,
        {
            "run": sfn.JsonPath.object_at("$.run"),
            "wave": sfn.JsonPath.object_at("$.wave"),
            "waves": sfn.JsonPath.object_at("$.waves"),
            "count": sfn.JsonPath.number_at("$.count"),
            # Adaptive concurrency recovers up to the run's own max_concurrency ($.wave's may be lower).
            "max_concurrency": sfn.JsonPath.number_at("$.max_concurrency"),
            "adaptive_concurrency": sfn.JsonPath.string_at("$.adaptive_concurrency"),
        },
        GATE_TIMEOUT_SECONDS,
        settings.retry,
        api_errors=True,
        payload_response_only=True,
        result_path="$.wave",
    )


def budget_gate(scope: Construct, settings: Settings, functions: Functions, spokes: sfn.IChainable) -> sfn.Choice:
    """When the run adapts its concurrency or the operation has an API budget, the gate sets the wave's
    concurrency ($.wave.max_concurrency, the Map's MaxConcurrencyPath); when the wave needs more budget than is
    left, wait until the reset, then check again; then `spokes`. Returns the gate's first state."""
    check = _check_budget(scope, settings, functions)
    # The check is advice: if it cannot be made, the wave goes and each spoke's Retry handles limits.
    check.add_catch(spokes, errors=[sfn.Errors.ALL], result_path="$.gate_error")
    wait = sfn.Wait(scope, "WaitForBudget", time=sfn.WaitTime.seconds_path("$.wave.wait_seconds"))
    check.next(
        sfn.Choice(scope, "BudgetAllows")
        .when(sfn.Condition.number_greater_than("$.wave.wait_seconds", 0), wait.next(check))
        .otherwise(spokes)
    )
    return (
        sfn.Choice(scope, "NeedsBudgetCheck")
        .when(
            sfn.Condition.or_(
                sfn.Condition.boolean_equals("$.budget_check", True),
                sfn.Condition.boolean_equals("$.adaptive_concurrency", True),
            ),
            check,
        )
        .otherwise(spokes)
    )
