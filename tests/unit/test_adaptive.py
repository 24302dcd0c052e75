"""The adaptive concurrency rule (additive increase, multiplicative decrease), its values written from the rule:
more than 20 % of a wave's targets rate-limited halves the concurrency (at least 1); a wave with none raises it by
max(1, max_concurrency // 4) up to max_concurrency; anything between keeps it."""

from __future__ import annotations

import pytest

from shared.adaptive import Step, next_concurrency, step


@pytest.mark.parametrize(
    ("previous", "rate_limited", "targets", "top", "expected"),
    [
        # the run at 8: 15 of 50 (30 %) halve to 4; a clean wave adds 2; another reaches 8; then it stays
        (8, 15, 50, 8, Step(4, "halved: 15 of 50 rate-limited")),
        (4, 0, 50, 8, Step(6, "raised by 2: 0 of 50 rate-limited")),
        (6, 0, 50, 8, Step(8, "raised by 2: 0 of 50 rate-limited")),
        (8, 0, 50, 8, Step(8, None)),
        # the share must be over 20 %: 10 of 50 is not, 11 of 50 is
        (8, 10, 50, 8, Step(8, None)),
        (8, 11, 50, 8, Step(4, "halved: 11 of 50 rate-limited")),
        # a few rate limits keep the concurrency where it is, neither up nor down
        (4, 1, 50, 8, Step(4, None)),
        # halving rounds down and stops at 1
        (3, 30, 50, 8, Step(1, "halved: 30 of 50 rate-limited")),
        (1, 50, 50, 8, Step(1, None)),
        # the step never passes the run's max: 7 + 2 would be 9 of 8
        (7, 0, 10, 8, Step(8, "raised by 1: 0 of 10 rate-limited")),
        # a small run's step is 1 (2 // 4 is 0)
        (1, 0, 10, 2, Step(2, "raised by 1: 0 of 10 rate-limited")),
        # a previous value over the run's max (recorded before a lower max) counts as the max
        (12, 0, 10, 8, Step(8, None)),
    ],
)
def test_the_next_waves_concurrency(previous, rate_limited, targets, top, expected):
    assert next_concurrency(previous, rate_limited, targets, top) == expected


@pytest.mark.parametrize(("top", "expected"), [(1, 1), (3, 1), (4, 1), (8, 2), (10, 2), (100, 25)])
def test_one_step_is_a_quarter_of_the_max_and_at_least_1(top, expected):
    assert step(top) == expected
