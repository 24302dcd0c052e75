"""Whole runs on the local engine: the synthesized state machine on moto's interpreter, handlers in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubspoke.engine import LocalEngine, Progress
from tests.e2e.conftest import spokes_held_until_running

pytestmark = pytest.mark.e2e


def request(engine: LocalEngine, run_id: str, n: int, params: dict[str, Any] | None = None, **extra) -> dict[str, Any]:
    return engine.manifest_request(run_id, [{"id": f"t{i:03d}"} for i in range(n)], params, **extra)


FAULTS: dict[str, Any] = {
    "fail_ids": [f"t{i:03d}" for i in range(0, 100, 10)],  # 10 permanent failures
    "rate_limit_ids": [f"t{i:03d}" for i in range(1, 100, 5)][:20],  # 20 rate-limited twice
    "rate_limit_times": 2,
}


def test_failures_are_isolated_and_counted_exactly(engine):
    # GIVEN 100 targets, 10 failing permanently and 20 rate-limited on their first two attempts
    result = engine.run(request(engine, "faults", 100, FAULTS))
    # THEN exactly 90 succeed and 10 fail, and the run fails at the default threshold 0
    summary = result.summary
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (100, 90, 10, 0)
    assert summary["outcome"] == "failed"
    assert (result.status, result.error) == ("FAILED", "RunFailed")
    assert {f["id"] for f in summary["failed_targets"]} == set(FAULTS["fail_ids"])
    assert summary["failures_by_error"] == {"TargetError": 10}
    rows = {r["target_id"]: r for r in engine.ledger("faults")}
    # The rate-limited ones needed three attempts (two RateLimitError retries), everyone else one.
    for tid in FAULTS["rate_limit_ids"]:
        assert (rows[tid]["status"], rows[tid]["attempts"]) == ("succeeded", 3), tid
    assert all(rows[t]["attempts"] == 1 for t in FAULTS["fail_ids"])
    assert result.spoke_invocations == 100 + 2 * 20


def test_threshold_decides_the_outcome(engine):
    result = engine.run(request(engine, "tolerant", 100, FAULTS, failure_threshold_percent=15))
    assert (result.summary["failed"], result.summary["outcome"], result.status) == (10, "succeeded", "SUCCEEDED")


def test_peak_concurrency_reaches_but_never_passes_max_concurrency(engine):
    # GIVEN far more targets than the cap, each doing some (simulated) work
    with spokes_held_until_running(engine, 6):
        result = engine.run(request(engine, "cap", 60, {"sleep_ms": 2000}, max_concurrency=6))
    assert result.summary["succeeded"] == 60
    assert result.peak_concurrency == 6


def test_default_concurrency_comes_from_settings(engine):
    with spokes_held_until_running(engine, 10):
        result = engine.run(request(engine, "default-cap", 40, {"sleep_ms": 2000}))
    assert result.peak_concurrency == 10  # cdk.json max_concurrency


def test_zero_targets_succeed(engine):
    result = engine.run(request(engine, "empty", 0))
    assert (result.status, result.summary["total"], result.summary["outcome"]) == ("SUCCEEDED", 0, "succeeded")
    assert result.spoke_invocations == 0


def test_invalid_input_fails_before_any_spoke_and_writes_nothing(engine):
    bad = request(engine, "bad", 5, {"sleep_ms": "soon"})
    result = engine.run(bad)
    assert (result.status, result.error) == ("FAILED", "InvalidRunRequest")
    assert "params.sleep_ms" in result.cause
    assert result.spoke_invocations == 0
    assert engine.ledger("bad") == []
    assert engine.objects("runs/") == []
    assert result.summary is None


def test_duplicate_target_ids_are_an_input_error(engine):
    source = engine.put_input("inputs/dup.json", json.dumps([{"id": "a"}, {"id": "a"}]).encode())
    result = engine.run({"run_id": "dup", "operation": "noop", "source": {"type": "s3-manifest", **source}})
    assert (result.status, result.error) == ("FAILED", "InvalidRunRequest")
    assert "duplicate target ids: 'a'" in result.cause
    assert engine.ledger("dup") == []


def test_static_source_runs_end_to_end(engine):
    result = engine.run(
        {"run_id": "static", "operation": "noop", "source": {"type": "static", "targets": [{"id": "a"}, {"id": "b"}]}}
    )
    assert (result.status, result.summary["succeeded"]) == ("SUCCEEDED", 2)


def test_progress_is_reported_from_the_ledger(engine):
    import threading

    # GIVEN spokes after the first 3 that wait until a progress report has shown the run part-way, so the report
    # of a moving run is seen whatever this machine's speed
    seen: list[Progress] = []
    part_way = threading.Event()
    fn = engine.runtime.function(engine.spoke_function)
    real = engine.runtime._load(fn)
    started = 0
    lock = threading.Lock()

    def held(event: dict[str, Any], context: object) -> Any:
        nonlocal started
        with lock:
            started += 1
            later = started > 3
        if later:
            part_way.wait(120)
        return real(event, context)

    def reported(progress: Progress) -> None:
        seen.append(progress)
        if 0 < progress.done < 30:
            part_way.set()

    fn.handler = held
    try:
        engine.run(request(engine, "progress", 30, {"sleep_ms": 500}, max_concurrency=3), on_progress=reported)
    finally:
        fn.handler = real
    assert seen[-1].total == 30
    assert (seen[-1].succeeded, seen[-1].failed, seen[-1].pending) == (30, 0, 0)
    assert any(0 < p.done < 30 for p in seen)  # it moved while the run went
