"""Stopping a bad change early, on the embedded engine: a canary wave judged against the run's failure
threshold before any other target is touched, and a circuit breaker that stops spokes from starting once the
run has recorded K failures. Counts are the requirement's (issue 14)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from hubspoke.engine import LocalEngine

pytestmark = pytest.mark.e2e


def _targets(count: int) -> list[dict[str, str]]:
    return [{"id": f"t{i:03d}"} for i in range(1, count + 1)]


def _spoke_invocations(engine: LocalEngine) -> int:
    return engine.runtime.function(engine.spoke_function).stats.invocations


def test_a_failing_canary_stops_the_run_before_any_other_target(engine):
    # GIVEN 120 targets, a canary of 10, and 4 of the canary's targets failing
    failing = ["t002", "t004", "t006", "t008"]
    request = engine.manifest_request("canary-bad", _targets(120), {"fail_ids": failing}, canary={"targets": 10})
    result = engine.run(request)
    # THEN the run failed after the canary: 10 attempted (6 succeeded, 4 failed), 110 skipped, nothing lost
    summary = result.summary
    assert (result.status, summary["outcome"], summary["stopped_by"]) == ("FAILED", "failed", "canary")
    counts = (summary["total"], summary["succeeded"], summary["failed"], summary["skipped"], summary["lost"])
    assert counts == (120, 6, 4, 110, 0)
    assert summary["skipped_by_reason"] == {"canary failed": 110}
    assert summary["waves_run"] == 1
    # AND no spoke was ever called for the 110: 10 invocations in all (a target failure is not retried)
    assert _spoke_invocations(engine) == 10
    rows = {row["target_id"]: row for row in engine.ledger("canary-bad")}
    assert len(rows) == 120
    after = [rows[f"t{i:03d}"] for i in range(11, 121)]
    assert {row["status"] for row in after} == {"skipped"}
    assert {int(row.get("attempts", 0)) for row in after} == {0}
    # AND one Map ran, never a second
    history = engine.history(result.execution_arn)
    assert sum(e["type"] == "MapStateEntered" for e in history) == 1


def test_a_clean_canary_lets_every_target_run(engine):
    request = engine.manifest_request(
        "canary-good", _targets(120), {"fail_ids": []}, canary={"targets": 10, "pause_seconds": 60}
    )
    result = engine.run(request)
    summary = result.summary
    assert (result.status, summary["outcome"], summary["stopped_by"]) == ("SUCCEEDED", "succeeded", None)
    assert (summary["total"], summary["succeeded"], summary["skipped"], summary["waves_run"]) == (120, 120, 0, 2)
    assert _spoke_invocations(engine) == 120
    # AND the canary's pause ran on the scaled clock: 60 s simulated between the canary and the rest
    history = engine.history(result.execution_arn)
    names = [(e.get("stateEnteredEventDetails") or {}).get("name") for e in history]
    assert names.count("CanaryPause") == 1
    assert names.count("WavePause") == 0
    assert result.simulated_seconds >= 60
    # AND the verdict costs 7 history events (ReadCanaryFailures: a task's 5; CanaryVerdict: 2), as the hub's
    # wave limit counts it (hub/history.py EVENTS_PER_CANARY)
    exited = [(e.get("stateExitedEventDetails") or {}).get("name") for e in history]
    first, last = names.index("ReadCanaryFailures"), exited.index("CanaryVerdict")
    assert last - first + 1 == 7


def test_a_canary_within_the_threshold_passes(engine):
    # 25 % of 40 targets is a canary of 10; 1 failure in it is 10 %: within a 10 % threshold, so the rest runs
    request = engine.manifest_request(
        "canary-tolerated",
        _targets(40),
        {"fail_ids": ["t001"]},
        canary={"percent": 25},
        failure_threshold_percent=10.0,
    )
    result = engine.run(request)
    summary = result.summary
    assert (summary["stopped_by"], summary["succeeded"], summary["failed"], summary["skipped"]) == (None, 39, 1, 0)
    assert _spoke_invocations(engine) == 40


def test_a_canary_over_the_threshold_fails_the_run_even_when_the_whole_run_would_not(engine):
    # 2 failures in a canary of 10 is 20 %, over a 10 % threshold; over all 40 targets it would be 5 %
    request = engine.manifest_request(
        "canary-over",
        _targets(40),
        {"fail_ids": ["t001", "t002"]},
        canary={"targets": 10},
        failure_threshold_percent=10.0,
    )
    result = engine.run(request)
    summary = result.summary
    assert (result.status, summary["outcome"], summary["stopped_by"]) == ("FAILED", "failed", "canary")
    assert (summary["succeeded"], summary["failed"], summary["skipped"]) == (8, 2, 30)
    assert _spoke_invocations(engine) == 10


def test_the_circuit_breaker_stops_spokes_from_starting(engine):
    # GIVEN 80 targets, every 7th failing (11 would fail), a breaker at 5 failures, 4 spokes at once
    failing = [f"t{i:03d}" for i in range(7, 81, 7)]
    request = engine.manifest_request(
        "breaker",
        _targets(80),
        {"fail_ids": failing, "sleep_ms": 200},
        circuit_breaker={"failures": 5},
        max_concurrency=4,
    )
    result = engine.run(request)
    summary = result.summary
    # THEN at most 5 + (4 - 1) failures were recorded: the spokes already running when the fifth was counted
    assert 5 <= summary["failed"] <= 8
    # AND every target that did not run is skipped with the reason; nothing is lost; the total is 80
    rows = engine.ledger("breaker")
    statuses = Counter(row["status"] for row in rows)
    assert summary["total"] == len(rows) == 80
    assert summary["lost"] == 0
    assert summary["skipped"] == summary["skipped_by_reason"]["circuit open after 5 failures"] > 0
    assert summary["succeeded"] + summary["failed"] + summary["skipped"] == 80
    assert statuses == {"succeeded": summary["succeeded"], "failed": summary["failed"], "skipped": summary["skipped"]}
    assert (result.status, summary["outcome"], summary["stopped_by"]) == ("FAILED", "failed", "circuit_breaker")
    # AND no skipped target was touched: the operation ran only for the targets that succeeded or failed
    assert _spoke_invocations(engine) == 80  # every spoke starts, reads the counter once ...
    skipped = [row for row in rows if row["status"] == "skipped"]
    assert {int(row.get("attempts", 0)) for row in skipped} == {0}  # ... and a skipped one acts on nothing
    # AND the counters row is not a target: the ledger's 80 rows are the 80 targets
    assert {row["target_id"] for row in rows} == {t["id"] for t in _targets(80)}


def test_a_percentage_breaker_waits_for_its_minimum(engine):
    # 1 failure in 20 finished targets is 5 %: under a 50 % breaker, which never opens
    request = engine.manifest_request(
        "breaker-percent",
        _targets(20),
        {"fail_ids": ["t001"]},
        circuit_breaker={"percent": 50, "min_targets": 4},
        max_concurrency=2,
    )
    summary = engine.run(request).summary
    assert (summary["failed"], summary["succeeded"], summary["skipped"], summary["stopped_by"]) == (1, 19, 0, None)


def test_a_bad_canary_or_breaker_is_refused_naming_the_field(engine):
    request = engine.manifest_request(
        "bad-stop", _targets(3), canary={"targets": 0}, circuit_breaker={"failures": 2, "percent": 10}
    )
    result = engine.run(request)
    assert (result.status, result.error) == ("FAILED", "InvalidRunRequest")
    assert "canary.targets" in result.cause
    assert "circuit_breaker" in result.cause
    assert engine.objects("runs/") == []
    assert engine.ledger("bad-stop") == []


# The flags, through the commands a person types: `hubspoke local run` and the operator client's `hubspoke run`.


def test_local_run_canary_flag_stops_a_bad_change(cli, tmp_path):
    summary_path = tmp_path / "summary.json"
    result = cli(
        "--targets",
        "30",
        "--canary",
        "10%",
        "--canary-pause",
        "5",
        "--params-json",
        json.dumps({"fail_ids": ["target-0002"]}),
        "--summary-json",
        str(summary_path),
    )
    # 10 % of 30 is a canary of 3, one of which fails: over the default threshold (0 %), the run stops
    assert result.exit_code == 1, result.output
    summary = json.loads(summary_path.read_text())
    assert (summary["stopped_by"], summary["succeeded"], summary["failed"], summary["skipped"]) == ("canary", 2, 1, 27)
    assert summary["skipped_by_reason"] == {"canary failed": 27}
    assert summary["spoke_invocations"] == 3
    assert "stopped by the canary" in result.output


def test_local_run_circuit_breaker_flag(cli, tmp_path):
    summary_path = tmp_path / "summary.json"
    every = [f"target-{i:04d}" for i in range(1, 21)]
    result = cli(
        "--targets",
        "20",
        "--circuit-breaker",
        "2",
        "--max-concurrency",
        "1",
        "--params-json",
        json.dumps({"fail_ids": every}),
        "--summary-json",
        str(summary_path),
    )
    # One spoke at a time, every target failing: the breaker opens after the second failure, the rest skip
    assert result.exit_code == 1, result.output
    summary = json.loads(summary_path.read_text())
    assert (summary["stopped_by"], summary["failed"], summary["skipped"]) == ("circuit_breaker", 2, 18)
    assert summary["skipped_by_reason"] == {"circuit open after 2 failures": 18}
    assert "stopped by the circuit breaker" in result.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--canary", "0"], "--canary"),
        (["--canary", "ten"], "--canary"),
        (["--canary", "0%"], "--canary"),
        (["--canary", "101%"], "--canary"),
        (["--canary-pause", "30"], "--canary-pause"),
        (["--circuit-breaker", "-3"], "--circuit-breaker"),
        (["--circuit-breaker", "5 %x"], "--circuit-breaker"),
        (["--circuit-breaker", "200%"], "--circuit-breaker"),
    ],
)
def test_local_run_refuses_bad_stop_early_flags_naming_them(cli, args, named):
    result = cli("--targets", "5", *args)
    assert result.exit_code == 2, result.output
    assert named in result.output


def test_client_run_takes_the_same_flags(engine):
    from typer.testing import CliRunner

    from hubspoke.cli import app

    every = [f"t{i:04d}" for i in range(12)]
    source = json.dumps({"type": "static", "targets": [{"id": t} for t in every]})
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--source-json",
            source,
            "--params-json",
            json.dumps({"fail_ids": every[:1]}),
            "--canary",
            "4",
            "--circuit-breaker",
            "50%",
            "--json",
            "--poll-seconds",
            "0.05",
        ],
    )
    assert result.exit_code == 1, result.output
    assert '"stopped_by": "canary"' in result.output
    assert '"canary failed": 8' in result.output
    bad = CliRunner().invoke(app, ["run", "--source-json", source, "--circuit-breaker", "x%"])
    assert bad.exit_code == 2
    assert "--circuit-breaker" in bad.output
