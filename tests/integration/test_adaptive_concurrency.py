"""Adaptive concurrency in the handlers on moto: the hub seeds the counters item for a run of several waves, a
spoke counts its target's first rate limit once in its wave's count, and the gate sets the next wave's
concurrency from it and records it for the summary."""

from __future__ import annotations

from typing import Any

import pytest
from gate.handler import handler as gate

from hub.handler import handler as hub
from shared.errors import RateLimitError
from spoke.handler import handler as spoke

COUNTERS = {"run_id": {"S": "run-1#counters"}, "target_id": {"S": "counters"}}


def start(context, count: int, wave_size: int, **extra):
    request = {
        "operation": "noop",
        "params": {"rate_limit_ids": ["t0", "t1"], "rate_limit_times": 2},
        "source": {"type": "static", "targets": [{"id": f"t{i}"} for i in range(count)]},
        "wave_size": wave_size,
        "max_concurrency": 8,
        "adaptive_concurrency": True,
        **extra,
    }
    return hub({"request": request, "execution_name": "run-1"}, context)


def counters(aws) -> dict[str, Any]:
    item: dict[str, Any] = aws.dynamodb.get_item(TableName="ledger-test", Key=COUNTERS, ConsistentRead=True)["Item"]
    return item


def gate_event(out, index: int) -> dict[str, Any]:
    wave = {"key": out["waves"]["keys"][index], "index": index, "max_concurrency": 8, "checks": 0}
    return {
        "run": out["run"],
        "wave": wave,
        "waves": out["waves"],
        "count": out["count"],
        "max_concurrency": out["max_concurrency"],
        "adaptive_concurrency": out["adaptive_concurrency"],
    }


def test_the_hub_seeds_each_rows_wave_and_the_counters(aws, context):
    out = start(context, 5, 2)
    assert (out["adaptive_concurrency"], out["run"]["adaptive_concurrency"]) == (True, True)
    assert {t: r.wave for t, r in aws.rows("run-1").items()} == {"t0": 0, "t1": 0, "t2": 1, "t3": 1, "t4": 2}
    assert counters(aws)["failures"] == {"N": "0"}


def test_one_wave_has_nothing_to_adapt(aws, context):
    out = start(context, 5, 10)
    assert out["adaptive_concurrency"] is False
    assert "adaptive_concurrency" not in out["run"]  # the spokes count nothing


def test_a_targets_first_rate_limit_counts_once_in_its_wave(aws, context):
    out = start(context, 4, 2)
    event = {"run": out["run"], "target": {"id": "t0"}, "retry_count": 0, "rate_limit_waits": 0, "wave": 0}
    for retry in (0, 1):  # rate-limited on attempts 1 and 2
        with pytest.raises(RateLimitError):
            spoke({**event, "retry_count": retry}, context)
    assert spoke({**event, "retry_count": 2}, context)["status"] == "succeeded"
    assert counters(aws)["rate_limited_w0"] == {"N": "1"}
    row = aws.rows("run-1")["t0"]
    # The success keeps what the failed attempts noted: the first start, the rate limit, the wave.
    assert (row.status, row.attempts, row.rate_limited, row.wave) == ("succeeded", 3, True, 0)
    assert row.started_at is not None
    assert row.ended_at is not None
    assert row.started_at <= row.ended_at
    # A clean target on its first attempt: started, ended, not rate-limited.
    assert spoke({**event, "target": {"id": "t2"}, "wave": 1}, context)["status"] == "succeeded"
    clean = aws.rows("run-1")["t2"]
    assert (clean.rate_limited, clean.wave, clean.started_at is not None) == (False, 1, True)


def test_the_gate_halves_after_a_rate_limited_wave_and_records_why(aws, context):
    out = start(context, 6, 2)
    first = gate(gate_event(out, 0), context)
    assert (first["max_concurrency"], first["wait_seconds"]) == (8, 0)
    # 1 of wave 0's 2 targets rate-limited: 50 % is over 20 %
    event = {"run": out["run"], "target": {"id": "t1"}, "retry_count": 0, "rate_limit_waits": 0, "wave": 0}
    with pytest.raises(RateLimitError):
        spoke(event, context)
    second = gate(gate_event(out, 1), context)
    assert second["max_concurrency"] == 4
    # Asked again (after a budget wait) it decides the same: it reads only finished waves.
    assert gate(gate_event(out, 1), context)["max_concurrency"] == 4
    third = gate(gate_event(out, 2), context)
    assert third["max_concurrency"] == 6  # wave 1 ran clean: 4 + 8 // 4
    item = counters(aws)
    assert (item["concurrency_w0"], item["concurrency_w1"], item["concurrency_w2"]) == (
        {"N": "8"},
        {"N": "4"},
        {"N": "6"},
    )
    assert (item["reason_w1"], item["reason_w2"]) == (
        {"S": "halved: 1 of 2 rate-limited"},
        {"S": "raised by 2: 0 of 2 rate-limited"},
    )


def test_without_adaptive_concurrency_the_gate_touches_no_ledger(aws, context):
    out = start(context, 6, 2, adaptive_concurrency=False)
    answer = gate({**gate_event(out, 1), "adaptive_concurrency": False}, context)
    assert (answer["max_concurrency"], answer["wait_seconds"]) == (8, 0)
    assert "Item" not in aws.dynamodb.get_item(TableName="ledger-test", Key=COUNTERS)
