"""History events per wave, counted on the local engine's history of the synthesized workflow: the numbers the
hub's wave limit rests on (lambdas/hub/history.py, issue item 7)."""

from __future__ import annotations

import pytest

from devtools.github import org_world
from hub import history
from hubspoke.engine import LocalEngine

from .test_github import SCALE, github, github_port, github_stack, sync_request  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e


def test_a_wave_costs_16_history_events_and_a_run_22_more(engine):
    # GIVEN noop runs of 1 wave and of 3 waves
    one = engine.run(engine.manifest_request("one-wave", [{"id": f"t{i}"} for i in range(4)]))
    three = engine.run(engine.manifest_request("three-waves", [{"id": f"t{i}"} for i in range(6)], wave_size=2))
    one_events, three_events = len(engine.history(one.execution_arn)), len(engine.history(three.execution_arn))
    # THEN (counted from the definition) a wave is WavePause, SelectWave, NeedsBudgetCheck, AdvanceWave, MoreWaves
    # (2 events each) and the Map (6); the first wave has no pause; the rest of the run is 22 events (the DryRun
    # choice's 2 among them)
    assert (one.status, three.status) == ("SUCCEEDED", "SUCCEEDED")
    assert three_events - one_events == 2 * 16
    assert one_events == 22 + 16 - 2
    # AND the hub reckons with these numbers
    assert history.EVENTS_PER_WAVE == 16
    assert history.EVENTS_PER_RUN == 22


def test_a_budget_check_costs_7_history_events_and_a_wait_2(github_stack, github, tmp_path):  # noqa: F811
    # GIVEN 5 repositories needing 70 requests with 10 left, resetting in 300 s: one wait, two checks
    server = github(org_world("acme", 5), rate_limit=1000)
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "lambda.log", github_token="t") as engine:
        server.configure(rate_remaining=10, reset_in_seconds=300)
        result = engine.run(sync_request("gated-history", max_concurrency=5))
        events = engine.history(result.execution_arn)
    assert result.status == "SUCCEEDED"
    names = [e.get("stateEnteredEventDetails", {}).get("name") for e in events]
    checks = [i for i, name in enumerate(names) if name == "CheckBudget"]
    map_entered = names.index("Spokes")
    # THEN check, wait, check: 7 + 2 + 7 events from the first check to the Map
    assert len(checks) == 2
    assert map_entered - checks[0] == 7 + 2 + 7
    assert checks[1] - checks[0] == 7 + 2
    # AND the hub's worst wave (20 waits, 21 checks) is 16 + 21 x 7 + 20 x 2 = 203 events: 98 waves at most
    assert history.events_per_wave(budget_check=True) == 203
    assert history.max_waves(budget_check=True) == 98
