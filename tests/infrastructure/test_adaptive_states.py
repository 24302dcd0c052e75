"""Adaptive concurrency as synthesized: the gate Lambda decides each wave's concurrency, the Distributed Map runs
at what it decided, each child knows its wave, and the gate may touch the ledger table only as it needs."""

from __future__ import annotations

from tests.iam import Call, allows, function_statements, table_arn

LEDGER = table_arn("hubspoke-ledger")


def test_a_run_with_adaptive_concurrency_asks_the_gate_before_every_wave(states):
    assert states["SelectWave"]["Next"] == "NeedsBudgetCheck"
    (rule,) = states["NeedsBudgetCheck"]["Choices"]
    assert {"Variable": "$.adaptive_concurrency", "BooleanEquals": True} in rule["Or"]
    assert rule["Next"] == "CheckBudget"


def test_the_gate_gets_the_runs_concurrency_and_its_answer_becomes_the_waves(states):
    check = states["CheckBudget"]
    payload = check["Parameters"]  # the function is invoked with the payload alone (payload_response_only)
    # The run's own max_concurrency (a recovery's ceiling) and whether to adapt, besides the wave itself.
    assert payload["max_concurrency.$"] == "$.max_concurrency"
    assert payload["adaptive_concurrency.$"] == "$.adaptive_concurrency"
    assert payload["wave.$"] == "$.wave"
    assert check["ResultPath"] == "$.wave"  # the gate's answer replaces the wave, max_concurrency included
    allows_state = states[check["Next"]]
    assert allows_state["Default"] == "Spokes"
    # The Map runs at the wave's concurrency: the one the gate decided.
    assert states["Spokes"]["MaxConcurrencyPath"] == "$.wave.max_concurrency"
    assert "MaxConcurrency" not in states["Spokes"]


def test_each_child_knows_its_wave(states):
    spokes = states["Spokes"]
    assert spokes["ItemSelector"]["wave.$"] == "$.wave.index"
    child = spokes["ItemProcessor"]["States"]["Spoke"]
    assert child["Parameters"]["Payload"]["wave.$"] == "$.wave"


def test_summarize_gets_the_runs_concurrency(states):
    assert states["Summarize"]["Parameters"]["Payload"]["max_concurrency.$"] == "$.max_concurrency"


def test_the_gate_may_get_and_update_ledger_items_and_nothing_else_of_dynamodb(template):
    statements = function_statements(template, "gate.")
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem"):
        assert allows(statements, Call(action, (LEDGER,))), action
    for action in ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"):
        assert not allows(statements, Call(action, (LEDGER,))), action
    # Only the ledger: not the idempotency table, not '*'.
    assert not allows(statements, Call("dynamodb:GetItem", (table_arn("hubspoke-idempotency"),)))
