"""The plan as a person reads it: the run's concurrency beside the ceiling it shares with every other run."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from hubspoke.plan import USAGE_ROWS, render_plan


def plan(ceiling: int | None) -> dict[str, Any]:
    return {
        "run_id": "r",
        "operation": "noop",
        "source": "static",
        "count": 3,
        "waves": {"count": 1, "size": 3, "sizes": [3], "pause_seconds": 0},
        "max_concurrency": 10,
        "max_total_concurrency": ceiling,
        "failure_threshold_percent": 0.0,
        "first_targets": ["a", "b", "c"],
        "api_budget": None,
        "cost": {
            "prices_as_of": "2026-11-01",
            "region": "us-east-1",
            "memory_mb": 512,
            "spoke_seconds": 0.05,
            "usage": {key: 1.0 for key, _ in USAGE_ROWS},
            "usd": {"total": 0.0},
            "not_counted": "nothing",
        },
        "notes": {},
    }


@pytest.mark.parametrize(
    ("ceiling", "shown"),
    [
        (1200, "10 (all runs together at most 1,200: beyond that, spokes wait throttled and retried)"),
        (None, "10 (no ceiling for all runs together)"),
    ],
)
def test_the_plan_shows_the_ceiling_for_all_runs_beside_the_runs_concurrency(ceiling, shown):
    console = Console(record=True, width=200)
    render_plan(console, plan(ceiling))
    assert shown in console.export_text()
