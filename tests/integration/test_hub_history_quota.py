"""The hub refuses a run whose waves could pass Step Functions' history quota (25,000 events) (issue item 7)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.handler import handler
from shared.errors import InvalidRunRequest

# An operation with an API budget: the state machine may check it 21 times a wave (20 waits), ~203 events a wave.
SYNC = {
    "operation": "github-file-sync",
    "params": {"files": [{"path": "SECURITY.md", "content": "# Security\n"}], "branch": "b", "title": "t"},
}


def repos(n: int) -> dict[str, Any]:
    return {"type": "static", "targets": [{"id": f"acme/r{i:03d}"} for i in range(n)]}


def test_a_budgeted_run_of_99_waves_is_refused_naming_wave_size(aws, context):
    # GIVEN 99 repositories in waves of 1: 99 x 203 + 20 events could pass 20,000 (the quota less a fifth spare)
    request = {**SYNC, "source": repos(99), "wave_size": 1}
    with pytest.raises(InvalidRunRequest) as err:
        handler({"request": request, "execution_name": "too-many-waves"}, context)
    (problem,) = err.value.problems
    assert problem.startswith("wave_size: 99 targets in waves of 1 make 99 waves; at most 98")
    assert "25,000" in problem
    assert aws.rows("too-many-waves") == {}


def test_a_budgeted_run_of_98_waves_is_accepted(aws, context):
    out = handler({"request": {**SYNC, "source": repos(98), "wave_size": 1}, "execution_name": "ok"}, context)
    assert out["waves"]["count"] == 98


def test_a_run_without_a_budget_keeps_the_1000_wave_limit(aws, context):
    # 16 events a wave: 1,000 waves stay inside the quota, as before
    def noop(n: int) -> dict[str, Any]:
        targets = [{"id": f"t{i:04d}"} for i in range(n)]
        return {"operation": "noop", "source": {"type": "static", "targets": targets}, "wave_size": 1}

    assert handler({"request": noop(1000), "execution_name": "w"}, context)["waves"]["count"] == 1000
    with pytest.raises(InvalidRunRequest) as err:
        handler({"request": noop(1001), "execution_name": "w2"}, context)
    assert err.value.problems == ["wave_size: 1001 targets in waves of 1 make 1001 waves; at most 1000"]


def test_adaptive_concurrency_checks_each_wave_once_so_fewer_waves_fit(aws, context):
    # 16 events a wave and one gate check of 7: (20,000 - 22) // 23 = 868 waves
    def adaptive(n: int) -> dict[str, Any]:
        targets = [{"id": f"t{i:04d}"} for i in range(n)]
        source = {"type": "static", "targets": targets}
        return {"operation": "noop", "source": source, "wave_size": 1, "adaptive_concurrency": True}

    assert handler({"request": adaptive(868), "execution_name": "a"}, context)["waves"]["count"] == 868
    with pytest.raises(InvalidRunRequest) as err:
        handler({"request": adaptive(869), "execution_name": "a2"}, context)
    (problem,) = err.value.problems
    assert problem.startswith("wave_size: 869 targets in waves of 1 make 869 waves; at most 868")
    assert "adaptive concurrency checks each wave once" in problem
