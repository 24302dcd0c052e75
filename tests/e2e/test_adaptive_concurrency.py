"""Adaptive concurrency on the whole workflow: a wave with more than 20 % of its targets rate-limited halves the
next wave's concurrency, a clean wave raises it by one step (a quarter of the run's max_concurrency), and the
summary lists each wave with its concurrency, peak, failures, rate limits and why the concurrency changed."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

# The run: three waves of 50, 30 % of the first wave rate-limited (each once, then it succeeds).
TARGETS = [{"id": f"t{i:03d}"} for i in range(150)]
RATE_LIMITED = [f"t{i:03d}" for i in range(0, 45, 3)]  # 15 of the first 50
MAX_CONCURRENCY = 8


def _map_concurrencies(history: list[dict[str, Any]]) -> list[int]:
    """What each wave's Distributed Map ran at: its MaxConcurrencyPath ($.wave.max_concurrency) as it entered."""
    return [
        json.loads(e["stateEnteredEventDetails"]["input"])["wave"]["max_concurrency"]
        for e in history
        if e["type"] == "MapStateEntered"
    ]


def test_three_waves_halve_after_rate_limits_and_recover_by_one_step(engine):
    assert len(RATE_LIMITED) == 15
    request = engine.manifest_request(
        "adaptive",
        TARGETS,
        {"rate_limit_ids": RATE_LIMITED, "rate_limit_times": 1},
        wave_size=50,
        max_concurrency=MAX_CONCURRENCY,
        adaptive_concurrency=True,
    )
    result = engine.run(request)
    summary = result.summary
    # Every target ran and succeeded (a rate limit is retried), in three waves.
    assert (result.status, summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (
        "SUCCEEDED",
        150,
        150,
        0,
        0,
    )
    assert summary["waves_run"] == 3
    # Wave 1 at 8; 15 of its 50 targets rate-limited (30 % > 20 %): wave 2 at 8 / 2 = 4; wave 2 clean: wave 3 at
    # 4 + max(1, 8 // 4) = 6.
    assert _map_concurrencies(engine.history(result.execution_arn)) == [8, 4, 6]
    waves = summary["waves"]
    assert [
        {k: w[k] for k in ("index", "targets", "max_concurrency", "failed", "rate_limited", "reason")} for w in waves
    ] == [
        {"index": 0, "targets": 50, "max_concurrency": 8, "failed": 0, "rate_limited": 15, "reason": None},
        {
            "index": 1,
            "targets": 50,
            "max_concurrency": 4,
            "failed": 0,
            "rate_limited": 0,
            "reason": "halved: 15 of 50 rate-limited",
        },
        {
            "index": 2,
            "targets": 50,
            "max_concurrency": 6,
            "failed": 0,
            "rate_limited": 0,
            "reason": "raised by 2: 0 of 50 rate-limited",
        },
    ]
    for wave in waves:
        assert 1 <= wave["peak_concurrency"] <= wave["max_concurrency"], wave


def test_without_the_flag_every_wave_runs_at_the_runs_concurrency(engine):
    request = engine.manifest_request(
        "steady",
        TARGETS[:30],
        {"rate_limit_ids": [f"t{i:03d}" for i in range(5)], "rate_limit_times": 1},
        wave_size=10,
        max_concurrency=4,
    )
    result = engine.run(request)
    assert _map_concurrencies(engine.history(result.execution_arn)) == [4, 4, 4]
    # The summary still lists the waves: 5 of the first 10 rate-limited, no change of concurrency.
    assert [
        (w["index"], w["targets"], w["max_concurrency"], w["rate_limited"], w["reason"])
        for w in result.summary["waves"]
    ] == [
        (0, 10, 4, 5, None),
        (1, 10, 4, 0, None),
        (2, 10, 4, 0, None),
    ]


# The flag, through the commands a person types: `hubspoke local run` and the operator client's `hubspoke run`.
SMALL = [f"target-{i:04d}" for i in range(1, 4)]  # 3 of the first wave's 10 (30 %), as `--targets 30` names them


def test_local_run_adaptive_concurrency_flag(cli, tmp_path):
    summary_path = tmp_path / "summary.json"
    result = cli(
        "--targets",
        "30",
        "--wave-size",
        "10",
        "--max-concurrency",
        "4",
        "--adaptive-concurrency",
        "--params-json",
        json.dumps({"rate_limit_ids": SMALL}),
        "--summary-json",
        str(summary_path),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(summary_path.read_text())
    # 4, then 4 / 2 = 2 after 3 of 10 rate-limited, then 2 + max(1, 4 // 4) = 3 after a clean wave
    assert [(w["max_concurrency"], w["rate_limited"], w["reason"]) for w in summary["waves"]] == [
        (4, 3, None),
        (2, 0, "halved: 3 of 10 rate-limited"),
        (3, 0, "raised by 1: 0 of 10 rate-limited"),
    ]
    assert set(summary["waves"][0]) == {
        "index",
        "targets",
        "max_concurrency",
        "peak_concurrency",
        "failed",
        "rate_limited",
        "reason",
    }
    # The text report shows the waves (more than one) and why the concurrency changed.
    assert "wave 1: 10 targets at concurrency 4" in result.output
    assert "wave 2: 10 targets at concurrency 2" in result.output
    assert "halved: 3 of 10 rate-limited" in result.output


def test_client_run_takes_the_flag(engine):
    from typer.testing import CliRunner

    from hubspoke.cli import app

    ids = [f"t{i:04d}" for i in range(20)]
    source = json.dumps({"type": "static", "targets": [{"id": t} for t in ids]})
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--source-json",
            source,
            "--params-json",
            json.dumps({"rate_limit_ids": ids[:5]}),  # half of the first wave
            "--wave-size",
            "10",
            "--max-concurrency",
            "6",
            "--adaptive-concurrency",
            "--json",
            "--poll-seconds",
            "0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    # The summary, printed as indented JSON (the in-process functions' one-line JSON logs share the output).
    summary, _ = json.JSONDecoder().raw_decode(result.output[result.output.index('{\n  "run_id"') :])
    assert [(w["max_concurrency"], w["reason"]) for w in summary["waves"]] == [
        (6, None),
        (3, "halved: 5 of 10 rate-limited"),
    ]


def test_each_waves_peak_is_the_concurrency_it_ran_at(engine, monkeypatch):
    """Held inside their interval (after the spoke took its start time, before its final write), the first spokes
    of each wave all run at once: the summary's peak, computed from the rows' times, is exactly the wave's
    concurrency, so it neither misses overlap nor exceeds what the Map allowed."""
    fn = engine.runtime.function(engine.spoke_function)
    engine.runtime._load(fn)  # the spoke's modules, as the engine imported them
    ledger_class = sys.modules["shared.ledger"].Ledger
    real = ledger_class.mark_finished
    expected = {0: 8, 1: 4, 2: 6}  # 5 of wave 0's 20 rate-limited (25 % > 20 %): 8, 8 / 2, 4 + 8 // 4
    arrived: dict[int, int] = dict.fromkeys(expected, 0)
    released = {wave: threading.Event() for wave in expected}
    lock = threading.Lock()

    def held(self, result, ttl_days, **kwargs):
        wave = kwargs.get("wave")
        if wave in expected:
            with lock:
                arrived[wave] += 1
                first = arrived[wave] <= expected[wave]
                if arrived[wave] == expected[wave]:
                    released[wave].set()
            if first:
                released[wave].wait(120)
        return real(self, result, ttl_days, **kwargs)

    monkeypatch.setattr(ledger_class, "mark_finished", held)
    request = engine.manifest_request(
        "peaks",
        TARGETS[:60],
        {"rate_limit_ids": [f"t{i:03d}" for i in range(0, 20, 4)]},
        wave_size=20,
        max_concurrency=MAX_CONCURRENCY,
        adaptive_concurrency=True,
    )
    result = engine.run(request)
    assert all(event.is_set() for event in released.values())
    assert [(w["max_concurrency"], w["peak_concurrency"]) for w in result.summary["waves"]] == [(8, 8), (4, 4), (6, 6)]
