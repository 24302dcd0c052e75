"""The stop-early request fields and flags: what is accepted, what is refused naming the field or flag, and the
numbers the hub derives (canary size, the failures a canary may have, wave sizes)."""

from __future__ import annotations

import pytest

from hub.logic import allowed_failures
from hub.plan import make_plan
from hubspoke.stop_early import StopEarlyError, stop_early_fields
from shared.config import HubEnv
from shared.errors import InvalidRunRequest
from shared.ledger import LedgerRow
from shared.models import Canary, CircuitBreaker, RunContext, Target, Waves, parse_run_request
from summarize.aggregate import RunAggregate
from tests.envs import VARIABLES

BASE = {"operation": "noop", "source": {"type": "static", "targets": [{"id": "a"}]}}


def _problems(**fields: object) -> list[str]:
    with pytest.raises(InvalidRunRequest) as caught:
        parse_run_request({**BASE, **fields})
    return caught.value.problems


def test_valid_canary_and_breaker_fields_are_accepted():
    request = parse_run_request(
        {
            **BASE,
            "canary": {"targets": 10, "pause_seconds": 60},
            "circuit_breaker": {"percent": 20, "min_targets": 5},
        }
    )
    assert request.canary == Canary(targets=10, pause_seconds=60)
    assert request.circuit_breaker == CircuitBreaker(percent=20, min_targets=5)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"canary": {"targets": 0}}, "canary.targets"),
        ({"canary": {"percent": 0}}, "canary.percent"),
        ({"canary": {"percent": 101}}, "canary.percent"),
        ({"canary": {"targets": 3, "percent": 10}}, "canary: Value error, give exactly one of targets"),
        ({"canary": {}}, "canary: Value error, give exactly one of targets"),
        ({"canary": {"targets": 3, "pause_seconds": -1}}, "canary.pause_seconds"),
        ({"canary": {"targets": 3, "size": 4}}, "canary.size"),
        ({"circuit_breaker": {"failures": 0}}, "circuit_breaker.failures"),
        ({"circuit_breaker": {"failures": 2, "percent": 5}}, "circuit_breaker: Value error, give exactly one"),
        ({"circuit_breaker": {"failures": 2, "min_targets": 5}}, "circuit_breaker: Value error, min_targets goes"),
        ({"circuit_breaker": {"percent": 10, "min_targets": 0}}, "circuit_breaker.min_targets"),
        ({"circuit_breaker": "5"}, "circuit_breaker"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(fields, named):
    problems = _problems(**fields)
    assert len(problems) == 1, problems
    assert problems[0].startswith(named), problems


@pytest.mark.parametrize(
    ("canary", "count", "size"),
    [
        (Canary(targets=10), 120, 10),
        (Canary(targets=500), 120, 120),  # never more than the run has
        (Canary(percent=5), 120, 6),
        (Canary(percent=1), 120, 2),  # 1.2 rounds up
        (Canary(percent=0.1), 50, 1),  # never an empty canary
    ],
)
def test_the_canary_size(canary, count, size):
    assert canary.size(count) == size


@pytest.mark.parametrize(
    ("targets", "threshold", "allowed"),
    [(10, 0.0, 0), (10, 10.0, 1), (10, 39.99, 3), (10, 40.0, 4), (3, 33.33, 1), (3, 33.0, 0), (10, 100.0, 10)],
)
def test_the_failures_a_canary_may_have(targets, threshold, allowed):
    assert allowed_failures(targets, threshold) == allowed


def test_waves_after_a_canary():
    waves = Waves(keys=[], count=4, size=40, pause_seconds=0, canary=10)
    assert [waves.targets_in(i, 120) for i in range(4)] == [10, 40, 40, 30]
    assert [Waves(keys=[], count=3, size=50, pause_seconds=0).targets_in(i, 120) for i in range(3)] == [50, 50, 20]


def test_the_breaker_opens_at_its_count_or_its_share_of_enough_finished_targets():
    by_count = CircuitBreaker(failures=5)
    assert (by_count.is_open(4, 100), by_count.is_open(5, 5)) == (False, True)
    assert by_count.reason() == "circuit open after 5 failures"
    by_share = CircuitBreaker(percent=20)  # min_targets defaults to 10
    assert (by_share.is_open(2, 9), by_share.is_open(2, 10), by_share.is_open(1, 10)) == (False, True, False)


@pytest.mark.parametrize(
    ("canary", "pause", "breaker", "fields"),
    [
        (None, None, None, {}),
        ("10", None, None, {"canary": {"targets": 10}}),
        ("5%", 30, None, {"canary": {"percent": 5, "pause_seconds": 30}}),
        ("2.5%", 0, None, {"canary": {"percent": 2.5}}),
        (None, None, "5", {"circuit_breaker": {"failures": 5}}),
        (None, None, "20%", {"circuit_breaker": {"percent": 20, "min_targets": 10}}),
    ],
)
def test_flags_become_request_fields(canary, pause, breaker, fields):
    assert stop_early_fields(canary, pause, breaker) == fields
    assert parse_run_request({**BASE, **fields})  # and the hub accepts them


@pytest.mark.parametrize(
    ("canary", "pause", "breaker", "named"),
    [
        ("0", None, None, "--canary"),
        ("x", None, None, "--canary"),
        ("0%", None, None, "--canary"),
        ("100.5%", None, None, "--canary"),
        ("-1", None, None, "--canary"),
        (None, 10, None, "--canary-pause"),
        (None, None, "0", "--circuit-breaker"),
        (None, None, "5%%", "--circuit-breaker"),
        (None, None, "abc", "--circuit-breaker"),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(canary, pause, breaker, named):
    with pytest.raises(StopEarlyError) as caught:
        stop_early_fields(canary, pause, breaker)
    assert str(caught.value).startswith(f"{named}:")


def _row(target: str, status: str, reason: str | None = None) -> LedgerRow:
    detail = {"reason": reason} if reason else {}
    return LedgerRow("r", target, status, 0 if status == "skipped" else 1, None, None, None, detail)


def test_the_summary_counts_skips_by_reason_and_says_what_stopped_the_run():
    aggregate = RunAggregate()
    aggregate.add_all(
        [
            _row("a", "succeeded"),
            _row("b", "skipped", "circuit open after 1 failures"),
            _row("c", "skipped", "circuit open after 1 failures"),
            _row("d", "skipped"),
        ]
    )
    summary = aggregate.summary(RunContext(run_id="r", operation="noop"), 50.0)
    assert summary.skipped_by_reason == {"circuit open after 1 failures": 2, "no reason given": 1}
    # No failure at all (0 % is within 50 %), but the breaker stopped the run: it failed.
    assert (summary.stopped_by, summary.outcome) == ("circuit_breaker", "failed")
    clean = RunAggregate()
    clean.add_all([_row("a", "succeeded"), _row("d", "skipped")])
    assert clean.summary(RunContext(run_id="r", operation="noop"), 0.0).stopped_by is None


def test_a_plan_shows_the_canary_as_the_first_wave():
    targets = [{"id": f"t{i:03d}"} for i in range(120)]
    request = parse_run_request(
        {**BASE, "source": {"type": "static", "targets": targets}, "canary": {"targets": 10}, "wave_size": 50}
    )
    cfg = HubEnv.model_validate(VARIABLES)
    settings = {"max_concurrency": 10, "failure_threshold_percent": 0.0, "notes": {}}

    plan = make_plan(request, "r", [Target(id=t["id"]) for t in targets], 50, settings, cfg)
    assert (plan.waves.count, plan.waves.sizes) == (4, [10, 50, 50, 10])


def test_the_adaptive_concurrency_flag_becomes_its_field():
    assert stop_early_fields(None, None, None, adaptive=True) == {"adaptive_concurrency": True}
    assert stop_early_fields(None, None, None) == {}
    assert stop_early_fields("5", None, None, adaptive=True) == {"adaptive_concurrency": True, "canary": {"targets": 5}}
