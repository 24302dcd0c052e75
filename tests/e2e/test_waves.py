"""Waves: the hub splits the targets, the state machine runs one Distributed Map per wave with a Wait
between (on the scaled clock), and the summary covers every wave."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import spokes_held_until_running

pytestmark = pytest.mark.e2e


def test_hundred_targets_in_waves_of_25(engine):
    # GIVEN 100 targets in waves of 25, 30 s apart
    request = engine.manifest_request(
        "waves", [{"id": f"t{i:03d}"} for i in range(100)], {"fail_ids": ["t050"]}, wave_size=25, wave_pause_seconds=30
    )
    result = engine.run(request)
    # THEN 4 waves ran, each its own Map, the summary covers them all
    summary = result.summary
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["waves_run"]) == (100, 99, 1, 4)
    history = engine.history(result.execution_arn)
    assert sum(e["type"] == "MapStateEntered" for e in history) == 4
    # AND the pause was observed between waves: three waits of 30 s on the 0.01 clock (0.3 s each)
    entered = [e["timestamp"] for e in history if e["type"] == "WaitStateEntered"]
    exited = [e["timestamp"] for e in history if e["type"] == "WaitStateExited"]
    assert len(entered) == len(exited) == 3
    for start, end in zip(entered, exited, strict=True):
        assert (end - start).total_seconds() >= 0.29
    assert result.simulated_seconds >= 90
    assert engine.objects("runs/waves/") == ["runs/waves/manifest.json"] + [
        f"runs/waves/wave-{i:04d}.json" for i in range(4)
    ]


def test_waves_never_run_more_than_the_wave_at_once(engine):
    request = engine.manifest_request(
        "wave-cap", [{"id": f"t{i:03d}"} for i in range(40)], {"sleep_ms": 2000}, wave_size=8, max_concurrency=20
    )
    with spokes_held_until_running(engine, 8):
        result = engine.run(request)
    assert (result.summary["waves_run"], result.summary["succeeded"]) == (5, 40)
    assert result.peak_concurrency == 8


def test_too_many_waves_is_an_input_error(engine):
    request = engine.manifest_request("too-many", [{"id": f"t{i:04d}"} for i in range(1001)], wave_size=1)
    result = engine.run(request)
    assert (result.status, result.error) == ("FAILED", "InvalidRunRequest")
    assert "wave_size" in result.cause
    assert engine.objects("runs/") == []
