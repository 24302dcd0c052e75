"""The noop operation's fault injection is deterministic per target and attempt."""

from __future__ import annotations

import pytest

from shared.errors import RateLimitError, TargetError, TransientError
from shared.models import RunContext, SpokeInput, Target
from shared.operations import OPERATIONS
from spoke.operations import noop


def item(tid: str, retry_count: int = 0) -> SpokeInput:
    return SpokeInput(run=RunContext(run_id="r", operation="noop"), target=Target(id=tid), retry_count=retry_count)


def test_noop_is_registered():
    assert OPERATIONS["noop"].params is noop.Params


def test_plain_target_succeeds():
    assert noop.run(noop.Params(), item("a")).status == "succeeded"


def test_fail_ids_fail_on_every_attempt():
    params = noop.Params(fail_ids=frozenset({"a"}))
    for retry in range(3):
        with pytest.raises(TargetError):
            noop.run(params, item("a", retry))


@pytest.mark.parametrize(
    ("ids", "times", "error"),
    [("rate_limit_ids", "rate_limit_times", RateLimitError), ("transient_ids", "transient_times", TransientError)],
)
def test_retryable_faults_stop_after_k_attempts(ids, times, error):
    params = noop.Params.model_validate({ids: ["a"], times: 2})
    for retry in (0, 1):
        with pytest.raises(error):
            noop.run(params, item("a", retry))
    assert noop.run(params, item("a", 2)).status == "succeeded"
    assert noop.run(params, item("b", 0)).status == "succeeded"


def test_sleep_is_on_the_scaled_clock(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("shared.clock.time.sleep", slept.append)
    monkeypatch.setenv("HUBSPOKE_TIME_SCALE", "0.01")
    noop.run(noop.Params(sleep_ms=2000), item("a"))
    assert slept == [pytest.approx(0.02)]


def test_params_are_validated():
    with pytest.raises(ValueError, match="sleep_ms"):
        noop.Params.model_validate({"sleep_ms": -1})
    with pytest.raises(ValueError, match="unknown"):
        noop.Params.model_validate({"unknown": 1})
