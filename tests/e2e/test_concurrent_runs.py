"""Several runs at once under the ceiling for all runs together (settings max_total_concurrency: the spoke's reserved
concurrency, honoured by the engine's adaptation `reserved-concurrency`).

Each run honours its own MaxConcurrency; together they may ask for more spokes than the ceiling: Lambda throttles
the rest, the Spoke task's Lambda-service Retry (2 s, x2, 6 retries: 126 s in all) tries them again, and a target
still throttled after that is recorded failed with Lambda.TooManyRequestsException, never lost.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.world import World, load_into_engine
from tests.e2e.conftest import CEILING, spokes_held_until_running

pytestmark = pytest.mark.e2e

# The same target ids in every run: a spoke of one run writing another run's row would show in that row.
IDS = [f"t{i:02d}" for i in range(1, 11)]
# A simulated second is 0.25 s here: a throttled spoke's retries span 126 simulated seconds, 31.5 s of real time,
# so only runs contending that long (ten times what they take here) could run them out; the runs' own CPU time,
# which the simulated clock magnifies by 1 / TIME_SCALE, stays far inside that on a busy machine too.
TIME_SCALE = 0.25
WORLD = {
    "clusters": [
        {"name": "web", "services": [{"name": f"s{i}", "image": "registry/web:7"} for i in range(1, 6)]},
        {"name": "jobs", "task": {"exit_code": 0, "seconds": 4}},
        {"name": "jobs-exit3", "task": {"exit_code": 3, "seconds": 4}},
    ],
    "task_definitions": [{"family": "nightly", "containers": [{"name": "report", "image": "registry/report:3"}]}],
    "index": False,
}


def static(run_id: str, operation: str, params: dict[str, Any], targets: list[dict[str, Any]], concurrency: int):
    return {
        "run_id": run_id,
        "operation": operation,
        "params": params,
        "source": {"type": "static", "targets": targets},
        "max_concurrency": concurrency,
        "failure_threshold_percent": 30,
    }


# A GitHub-sync-like noop run: 10 targets, 2 s each, t07 fails for good.
NOOP = static("sync", "noop", {"sleep_ms": 2000, "fail_ids": ["t07"]}, [{"id": i} for i in IDS], 4)
# An image push: restart web/s1..s5 (t01..t05); t06 names a service that does not exist.
RESTART = static(
    "push",
    "ecs-restart",
    {},
    [{"id": f"t{i:02d}", "cluster": "web", "service": f"s{i}", "digest": "sha256:77"} for i in range(1, 6)]
    + [{"id": "t06", "cluster": "web", "service": "gone", "digest": "sha256:77"}],
    4,
)
# A nightly job: a one-off task on jobs for t01..t03 (exit 0), on jobs-exit3 for t04 (exit 3).
TASKS = static(
    "nightly",
    "ecs-run-task",
    {"task_definition": "nightly", "wait_timeout_seconds": 60, "poll_seconds": 2},
    [{"id": f"t{i:02d}", "cluster": "jobs"} for i in range(1, 4)] + [{"id": "t04", "cluster": "jobs-exit3"}],
    3,
)


def test_three_runs_at_once_share_the_ceiling_and_lose_nothing(ceiling_stack, tmp_path):
    # GIVEN the deployment's ceiling of 6 spokes at once for all runs, and three runs asking for 4 + 4 + 3 = 11
    with LocalEngine(ceiling_stack, time_scale=TIME_SCALE, log_path=tmp_path / "l.log") as engine:
        load_into_engine(engine, World.model_validate(WORLD))
        spoke = engine.runtime.function(engine.spoke_function).stats
        # The first 6 spokes are held until all 6 run and one more was throttled: the ceiling is certainly reached,
        # and passed only if the engine let a 7th in.
        with spokes_held_until_running(engine, CEILING, until=lambda: spoke.throttles >= 1):
            # WHEN they start together
            results = engine.run_together([NOOP, RESTART, TASKS])
        rows = {run: {r["target_id"]: r for r in engine.ledger(run)} for run in ("sync", "push", "nightly")}
        run_tasks = {c: engine.tasks.run_tasks(None, None, c) for c in ("jobs", "jobs-exit3")}
    # THEN each run's report is exact, nothing lost
    summaries = {r.run_id: r.summary or {} for r in results}
    counts = {run: tuple(s[k] for k in ("total", "succeeded", "failed", "lost")) for run, s in summaries.items()}
    assert counts == {"sync": (10, 9, 1, 0), "push": (6, 5, 1, 0), "nightly": (4, 3, 1, 0)}
    assert [(r.status, summaries[r.run_id]["outcome"]) for r in results] == [
        ("SUCCEEDED", "succeeded"),
        ("SUCCEEDED", "succeeded"),
        ("SUCCEEDED", "succeeded"),
    ]
    # AND each ledger holds exactly its own targets, each row written by its own run's operation
    assert {run: sorted(r) for run, r in rows.items()} == {"sync": IDS, "push": IDS[:6], "nightly": IDS[:4]}
    assert {t for t, r in rows["sync"].items() if r["status"] == "failed"} == {"t07"}
    assert {json.dumps(json.loads(r["detail"])) for t, r in rows["sync"].items() if t != "t07"} == {
        '{"slept_ms": 2000}'
    }
    push = {t: json.loads(r["detail"]) for t, r in rows["push"].items() if r["status"] == "succeeded"}
    assert {t: (d["cluster"], d["service"]) for t, d in push.items()} == {
        f"t{i:02d}": ("web", f"s{i}") for i in range(1, 6)
    }
    assert (rows["push"]["t06"]["status"], rows["push"]["t06"]["error_type"]) == ("failed", "TargetError")
    nightly = {t: json.loads(r["detail"]) for t, r in rows["nightly"].items() if r["status"] == "succeeded"}
    assert set(nightly) == {"t01", "t02", "t03"}
    assert {d["exit_codes"]["report"] for d in nightly.values()} == {0}
    assert (rows["nightly"]["t04"]["status"], rows["nightly"]["t04"]["error_type"]) == ("failed", "TargetError")
    assert run_tasks == {"jobs": 3, "jobs-exit3": 1}  # one task per target: no spoke ran twice
    # AND the ceiling was reached and never passed, across the three runs
    assert spoke.peak_concurrency == CEILING
    # AND every throttled invocation was retried: each handler ran once (20 targets), and the throttles are exactly
    # the attempts beyond the first (a throttled invocation counts as an attempt but never runs the handler)
    every_row = [r for run in rows.values() for r in run.values()]
    assert spoke.invocations == 20
    assert spoke.throttles >= 1
    assert sum(int(r["attempts"]) - 1 for r in every_row) == spoke.throttles


def test_a_spoke_throttled_past_its_retries_is_recorded_failed_not_lost(ceiling_stack, tmp_path):
    # GIVEN a run whose 6 spokes hold the whole ceiling (held until the other run's spoke has been throttled 7 times)
    hog = static("hog", "noop", {}, [{"id": f"h{i}"} for i in range(1, 7)], CEILING)
    starved = static("starved", "noop", {}, [{"id": "s1"}], 1)
    with LocalEngine(ceiling_stack, time_scale=0.01, log_path=tmp_path / "l.log") as engine:
        spoke = engine.runtime.function(engine.spoke_function).stats
        done: list[Any] = []
        # 1 attempt + the Lambda-service Retry's 6 (the seed's numbers): 7 throttles, then the Catch.
        with spokes_held_until_running(engine, CEILING, until=lambda: spoke.throttles >= 7) as all_running:
            first = threading.Thread(target=lambda: done.append(engine.run(hog)))
            first.start()
            assert all_running.wait(60)
            # WHEN another run starts while the ceiling is taken
            result = engine.run(starved)
            first.join(60)
        (row,) = engine.ledger("starved")
    # THEN its target was throttled 7 times and recorded failed with the throttle, never run, not lost
    assert spoke.throttles == 7
    assert result.summary is not None
    assert tuple(result.summary[k] for k in ("total", "succeeded", "failed", "lost")) == (1, 0, 1, 0)
    assert (row["status"], row["error_type"], row["attempts"]) == ("failed", "Lambda.TooManyRequestsException", 0)
    assert "Rate Exceeded." in row["cause"]
    assert (result.status, result.error) == ("FAILED", "RunFailed")
    # AND the run holding the ceiling finished untouched
    (hog_result,) = done
    assert hog_result.summary is not None
    assert tuple(hog_result.summary[k] for k in ("total", "succeeded", "failed", "lost")) == (6, 6, 0, 0)
    assert spoke.invocations == 6


def test_one_interrupt_stops_every_run_started_together(engine):
    # GIVEN two runs started together, each with a spoke under way (10 simulated minutes of work)
    runs = [static(run_id, "noop", {"sleep_ms": 600_000}, [{"id": "t01"}], 1) for run_id in ("left", "right")]
    with spokes_held_until_running(engine, 2) as both_running:

        def press_ctrl_c() -> None:
            both_running.wait(60)
            engine.interrupt()  # what the CLI's signal handler calls

        presser = threading.Thread(target=press_ctrl_c)
        presser.start()
        # WHEN the person presses Ctrl-C
        results = engine.run_together(runs)
        presser.join(60)
    # THEN both executions are stopped, and said to be
    assert [(r.run_id, r.status, r.interrupted) for r in results] == [
        ("left", "ABORTED", True),
        ("right", "ABORTED", True),
    ]
    assert [r["status"] for run in ("left", "right") for r in engine.ledger(run)] == ["pending", "pending"]
