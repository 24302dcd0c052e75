"""Which alarms a local run fires, evaluated with the deployed alarms' expressions and thresholds."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from hubspoke.alarms import evaluate_alarms
from hubspoke.engine import LocalEngine
from stacks.alarms import alarm_specs
from stacks.settings import Settings

pytestmark = pytest.mark.e2e
SPECS = alarm_specs(Settings().monitoring)


def states(result) -> dict[str, str]:
    return {a.name: a.state for a in evaluate_alarms(SPECS, result)}


def run(engine: LocalEngine, run_id: str, n: int, params: dict[str, Any], **extra):
    targets = [{"id": f"t{i:03d}"} for i in range(n)]
    source = engine.put_input(f"inputs/{run_id}.json", json.dumps(targets).encode())
    return engine.run(
        {"run_id": run_id, "operation": "noop", "params": params, "source": {"type": "s3-manifest", **source}, **extra}
    )


def test_fifteen_percent_failures_fire_the_failure_rate_alarm(engine):
    result = run(engine, "f15", 100, {"fail_ids": [f"t{i:03d}" for i in range(15)]}, failure_threshold_percent=20)
    alarms = {a.name: a for a in evaluate_alarms(SPECS, result)}
    assert alarms["SpokeFailureRate"].state == "ALARM"
    assert alarms["SpokeFailureRate"].describe() == "SpokeFailureRate: ALARM (15 % > 10 %)"
    assert alarms["HubFailed"].state == "OK"
    assert alarms["ExecutionsFailed"].state == "OK"  # 15 % is within this run's 20 % threshold


def test_five_percent_failures_leave_it_ok(engine):
    result = run(engine, "f5", 100, {"fail_ids": [f"t{i:03d}" for i in range(5)]}, failure_threshold_percent=10)
    alarms = {a.name: a for a in evaluate_alarms(SPECS, result)}
    assert alarms["SpokeFailureRate"].describe() == "SpokeFailureRate: OK (5 % <= 10 %)"
    assert [a.name for a in alarms.values() if a.state == "ALARM"] == []


def test_spokes_past_their_timeout_fire_the_stuck_alarm(stack, tmp_path):
    with LocalEngine(stack, time_scale=0.002, log_path=tmp_path / "l.log") as engine:
        result = run(engine, "stuck", 4, {"slow_ids": ["t001"], "slow_ms": 400_000})
    assert states(result)["SpokesStuck"] == "ALARM"


def test_a_bad_manual_start_fires_executions_failed_but_not_hub_failed(engine):
    # GIVEN a manual start the hub rejects WHEN it runs
    result = engine.run({"run_id": "bad-hub", "operation": "noop", "source": {"type": "static", "targets": [7.5]}})
    assert (result.status, result.error) == ("FAILED", "InvalidRunRequest")
    # THEN only the failed execution alarms: bad input is not a broken hub, so HubFailed does not page
    fired = [a.name for a in evaluate_alarms(SPECS, result) if a.state == "ALARM"]
    assert fired == ["ExecutionsFailed"]


def test_a_hub_that_breaks_fires_the_hub_alarm(engine, monkeypatch):
    # GIVEN a hub whose ledger writes break (an outage, not the request's fault)
    ledger_module = importlib.import_module("shared.ledger")  # the module the handlers loaded, if they did

    def broken(self, *args, **kwargs):
        raise RuntimeError("simulated DynamoDB outage")

    monkeypatch.setattr(ledger_module.Ledger, "seed_pending", broken)
    result = run(engine, "broken-hub", 3, {})
    assert (result.status, result.error) == ("FAILED", "RuntimeError")
    fired = [a.name for a in evaluate_alarms(SPECS, result) if a.state == "ALARM"]
    assert fired == ["HubFailed", "ExecutionsFailed"]


def test_a_clean_run_fires_nothing(engine):
    result = run(engine, "clean", 20, {})
    assert set(states(result).values()) == {"OK"}


def test_a_run_emits_hub_spoke_and_run_metrics(engine):
    result = run(engine, "metrics", 10, {"rate_limit_ids": ["t001"], "fail_ids": ["t002"]})
    names = {m["Name"] for doc in result.emf for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names >= {
        "HubDuration",
        "HubFailed",
        "SpokeSucceeded",
        "SpokeDuration",
        "SpokeRetries",
        "SpokeAttemptFailed",
        "RunTargets",
        "SpokesSucceeded",
        "SpokesFailed",
        "RunFailureRate",
        "SpokeFailures",
        "RunDuration",
    }
