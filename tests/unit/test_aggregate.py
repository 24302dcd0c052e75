"""Summarize's aggregation: totals, outcome, percentiles, and memory that does not grow with successes."""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest

from shared.ledger import LedgerRow
from shared.models import RunContext
from summarize.aggregate import DurationHistogram, RunAggregate, readable_cause

RUN = RunContext(run_id="r", operation="noop")


def row(
    tid: str,
    status: str,
    attempts: int = 1,
    duration: int | None = 100,
    error: str | None = None,
    cause: str | None = None,
) -> LedgerRow:
    return LedgerRow("r", tid, status, attempts, duration, error, cause, {})


def test_totals_by_status_and_failures_by_error():
    agg = RunAggregate()
    agg.add_all(
        [
            row("a", "succeeded"),
            row("b", "unchanged"),
            row("c", "skipped"),
            row("d", "failed", 1, None, "TargetError", "nope"),
            row("e", "failed", 6, None, "States.Timeout", ""),
            row("f", "failed", 1, None, "TargetError", "nope too"),
        ]
    )
    summary = agg.summary(RUN, threshold=0)
    assert (summary.total, summary.succeeded, summary.unchanged, summary.skipped, summary.failed) == (6, 1, 1, 1, 3)
    assert summary.failures_by_error == {"TargetError": 2, "States.Timeout": 1}
    assert [f.id for f in summary.failed_targets] == ["d", "e", "f"]
    assert summary.failure_rate == 50.0
    assert summary.attempts_histogram == {"1": 5, "6": 1}


@pytest.mark.parametrize(
    ("failed", "threshold", "outcome"),
    [(0, 0, "succeeded"), (1, 0, "failed"), (10, 10, "succeeded"), (11, 10, "failed")],
)
def test_outcome_against_threshold(failed, threshold, outcome):
    agg = RunAggregate()
    agg.add_all(row(f"f{i}", "failed", error="TargetError") for i in range(failed))
    agg.add_all(row(f"s{i}", "succeeded") for i in range(100 - failed))
    assert agg.summary(RUN, threshold).outcome == outcome


def test_a_lost_target_fails_the_run_whatever_the_threshold():
    agg = RunAggregate()
    agg.add_all([row("a", "succeeded"), row("b", "pending", attempts=0, duration=None)])
    summary = agg.summary(RUN, threshold=100)
    assert (summary.lost, summary.outcome) == (1, "failed")


def test_zero_targets_succeed():
    summary = RunAggregate().summary(RUN, threshold=0)
    assert (summary.total, summary.failure_rate, summary.outcome) == (0, 0.0, "succeeded")
    assert summary.durations.p50_ms is None


def test_percentiles_are_within_five_percent():
    rng = random.Random(7)
    samples = [rng.randint(1, 60_000) for _ in range(20_000)]
    hist = DurationHistogram()
    for s in samples:
        hist.add(s)
    ordered = sorted(samples)
    for p in (50, 90, 99):
        exact = ordered[max(0, -(-p * len(ordered) // 100) - 1)]
        estimate = hist.percentile(p)
        assert estimate is not None
        assert abs(estimate - exact) <= 0.05 * exact + 1, p
    assert (hist.min_ms, hist.max_ms) == (ordered[0], ordered[-1])


def _peak_memory(n_succeeded: int) -> int:
    agg = RunAggregate()
    tracemalloc.start()
    agg.add_all(row(f"t{i}", "succeeded", duration=i % 5000) for i in range(n_succeeded))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_succeeded_targets():
    # GIVEN 2,000 and then 100,000 succeeded rows WHEN aggregated THEN peak memory stays about the same
    small, large = _peak_memory(2_000), _peak_memory(100_000)
    assert large < small * 1.5 + 64_000, (small, large)


def test_readable_cause_takes_the_lambda_error_message():
    lambda_cause = json.dumps({"errorMessage": "branch is protected", "errorType": "TargetError", "stackTrace": []})
    assert readable_cause(lambda_cause) == "branch is protected"
    assert readable_cause("Task timed out") == "Task timed out"
    assert readable_cause(None) == ""
