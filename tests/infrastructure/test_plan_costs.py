"""The dry run as synthesized: the DryRun choice ends a plan before anything runs, the hub may write plans/ only
there, and the plan's transition counts (lambdas/shared/pricing.py) are the definition's own: each is checked by
walking the path a succeeding run takes through the synthesized states."""

from __future__ import annotations

from typing import Any

import pytest

from shared import pricing
from tests.iam import Call, allows, function_statements

BUCKET = "arn:aws:s3:::hubspoke-local"


def walk(states: dict[str, Any], start: str, choose: dict[str, list[int | str]]) -> list[str]:
    """The states a run passes from `start` to its end. At a Choice it takes, in turn, the branches listed for
    that Choice (a rule's index, or "Default"); Next otherwise."""
    taken = {name: list(branches) for name, branches in choose.items()}
    path, name = [], start
    while True:
        path.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            branch = taken[name].pop(0)
            name = state["Default"] if branch == "Default" else state["Choices"][branch]["Next"]
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            return path
        else:
            name = state["Next"]


def run_path(definition: dict[str, Any], waves: int, budget: bool) -> list[str]:
    """A succeeding run of `waves` waves: not a plan, not a duplicate, targets present, the budget (if any) allows
    each wave at the first check, more waves until the last, the outcome succeeded."""
    choose: dict[str, list[int | str]] = {
        "DryRun": ["Default"],
        "DuplicateDelivery": ["Default"],
        "AnyTargets": [0],
        "NeedsBudgetCheck": [0 if budget else "Default"] * waves,
        "BudgetAllows": ["Default"] * waves,
        # Rule 0 is a canary's verdict after wave 0 (a run without a canary never takes it); rule 1: more waves.
        "MoreWaves": [1] * (waves - 1) + ["Default"],
        "RunOutcome": [0],
    }
    return walk(definition["States"], definition["StartAt"], choose)


@pytest.mark.parametrize(("waves", "budget"), [(1, False), (2, False), (3, False), (1, True), (4, True)])
def test_the_transition_constants_are_the_definitions_path(definition, waves, budget):
    path = run_path(definition, waves, budget)
    counted = (
        pricing.TRANSITIONS_PER_RUN
        + waves * pricing.TRANSITIONS_PER_WAVE
        + (waves - 1) * pricing.TRANSITIONS_PER_WAVE_PAUSE
        + (waves * pricing.TRANSITIONS_PER_BUDGET_CHECK if budget else 0)
    )
    assert len(path) == counted, path
    assert path[-1] == "RunSucceeded"
    assert path.count("Spokes") == waves


def gated_canary_path(definition: dict[str, Any], waves: int, *, canary: bool, adaptive: bool) -> list[str]:
    """A succeeding run of `waves` waves with a canary that passes (wave 0) and/or adaptive concurrency (the gate
    before every wave, letting it go at the first check)."""
    choose: dict[str, list[int | str]] = {
        "DryRun": ["Default"],
        "DuplicateDelivery": ["Default"],
        "AnyTargets": [0],
        "NeedsBudgetCheck": [0 if adaptive else "Default"] * waves,
        "BudgetAllows": ["Default"] * waves,
        # After wave 0 a canary's verdict (rule 0), then more waves (rule 1) until the last.
        "MoreWaves": ([0] if canary else [1]) + [1] * (waves - 2) + ["Default"],
        "CanaryVerdict": ["Default"],  # within the threshold: CanaryPause, then the next wave
        "RunOutcome": [0],
    }
    return walk(definition["States"], definition["StartAt"], choose)


@pytest.mark.parametrize(
    ("waves", "canary", "adaptive"), [(2, True, False), (4, True, False), (3, False, True), (4, True, True)]
)
def test_a_canary_and_adaptive_concurrency_add_their_states_to_the_count(definition, waves, canary, adaptive):
    path = gated_canary_path(definition, waves, canary=canary, adaptive=adaptive)
    assert path.count("ReadCanaryFailures") == (1 if canary else 0)
    assert path.count("CheckBudget") == (waves if adaptive else 0)
    shape = pricing.RunShape(
        targets=0, waves=waves, budget_check=False, spoke_seconds=0.0, memory_mb=512, canary=canary, adaptive=adaptive
    )
    # The estimate's transitions without any target are exactly the states of the path.
    assert pricing.usage(shape).state_transitions == len(path), path


def test_a_succeeding_target_is_a_child_start_and_its_path(definition):
    """AWS bills one transition per child execution a Distributed Map starts, plus the child's own states."""
    child = definition["States"]["Spokes"]["ItemProcessor"]
    path = walk(child["States"], child["StartAt"], {})
    assert path == ["Spoke"]
    assert 1 + len(path) == pricing.TRANSITIONS_PER_TARGET


def test_a_plan_ends_succeeded_right_after_the_hub(definition, states):
    assert states["Hub"]["Next"] == "DryRun"
    choice = states["DryRun"]
    (rule,) = choice["Choices"]
    # A real run's output has no `outcome`: the comparison is guarded (a missing path is a runtime error).
    assert rule["And"] == [
        {"Variable": "$.outcome", "IsPresent": True},
        {"Variable": "$.outcome", "StringEquals": "planned"},
    ]
    assert states[rule["Next"]]["Type"] == "Succeed"
    assert choice["Default"] == "DuplicateDelivery"
    plan = walk(definition["States"], definition["StartAt"], {"DryRun": [0]})
    assert plan == ["Hub", "DryRun", "Planned"]


def test_the_hub_may_write_plans_and_no_other_new_prefix(template):
    statements = function_statements(template, "hub.")
    assert allows(statements, Call("s3:PutObject", (f"{BUCKET}/plans/r-1.json",)))
    for key in ("reports/r-1.json", "inputs/r-1.json", "r-1.json"):
        assert not allows(statements, Call("s3:PutObject", (f"{BUCKET}/{key}",))), key


def test_the_hub_knows_the_functions_memory(template):
    hub = next(
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"].startswith("hub.")
    )
    # cdk.json lambda_memory_mb: 512, every function's memory.
    assert hub["MemorySize"] == 512
    assert hub["Environment"]["Variables"]["LAMBDA_MEMORY_MB"] == "512"
