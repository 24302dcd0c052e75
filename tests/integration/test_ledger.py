"""The ledger's data access on moto: TTLs in epoch seconds, queries that really page, and the bounded batch
writer (UnprocessedItems retried with capped exponential backoff, then a clear error)."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Any

import pytest

from shared import dynamo
from shared.dynamo import UnprocessedItemsError, batch_put
from shared.ecs_images import ImageIndex, ServiceImages
from shared.ledger import Ledger, iter_run_rows
from shared.models import SpokeResult, Target

from .conftest import INDEX_TABLE, TABLE, Aws

NOW = 1_750_000_000  # an injected clock: 2025-06-15T15:06:40Z
DAY = 86_400  # DynamoDB TTL reads epoch SECONDS


def item(aws: Aws, run_id: str, target_id: str) -> dict[str, Any]:
    key = {"run_id": {"S": run_id}, "target_id": {"S": target_id}}
    found: dict[str, Any] = aws.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    return found


def test_seeded_and_finished_rows_expire_ttl_days_after_their_write_in_seconds(aws):
    clock = [float(NOW)]
    ledger = Ledger(aws.dynamodb, TABLE, now=lambda: clock[0])
    ledger.seed_pending("r", [Target(id="a")], 30)
    assert int(item(aws, "r", "a")["expires_at"]["N"]) == NOW + 30 * DAY
    clock[0] = NOW + 125.7  # finished two minutes later: the TTL counts from the last write
    result = SpokeResult(run_id="r", target_id="a", status="succeeded", attempts=1, duration_ms=5, detail={})
    assert ledger.mark_finished(result, 7)
    assert int(item(aws, "r", "a")["expires_at"]["N"]) == NOW + 125 + 7 * DAY


def count_calls(aws: Aws, operation: str) -> list[int]:
    calls: list[int] = []
    aws.dynamodb.meta.events.register(f"before-call.dynamodb.{operation}", lambda **_: calls.append(1))
    return calls


def test_a_run_is_read_page_by_page_and_every_row_is_seen(aws):
    ids = [f"t{i:03d}" for i in range(23)]
    aws.ledger.seed_pending("r", [Target(id=i) for i in ids], 1)
    queries = count_calls(aws, "Query")
    pages = list(aws.ledger.pages("r", page_size=5))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert len(queries) == 5
    assert sorted(row.target_id for page in pages for row in page) == ids


def test_run_rows_with_a_projection(aws):
    aws.ledger.seed_pending("r", [Target(id="a"), Target(id="b")], 1)
    rows = [row for page in iter_run_rows(aws.dynamodb, TABLE, "r", ["target_id", "status"]) for row in page]
    assert rows == [{"target_id": "a", "status": "pending"}, {"target_id": "b", "status": "pending"}]


def test_the_image_index_is_read_page_by_page(aws):
    index = ImageIndex(aws.dynamodb, INDEX_TABLE)
    services = [
        ServiceImages("arn:c", f"arn:svc/{i:03d}", f"svc-{i:03d}", "ACTIVE", "td", ["web:1"]) for i in range(12)
    ]
    assert index.rebuild(services, 3600) == 12
    queries = count_calls(aws, "Query")
    seen = list(index.services("web", page_size=5))
    assert len(queries) == math.ceil(12 / 5)
    assert sorted(s.service for s in seen) == [f"svc-{i:03d}" for i in range(12)]


def unprocessed(aws: Aws, times: int) -> list[int]:
    """The first `times` BatchWriteItem calls answer that DynamoDB processed nothing (as when it throttles);
    later calls reach moto. Returns the number of requests of each call."""
    sizes: list[int] = []
    sent: list[dict[str, Any]] = []

    def before_build(params: dict[str, Any], **_: object) -> None:
        sent.append(params["RequestItems"])  # the API parameters (before-call sees the HTTP request)
        sizes.append(sum(len(r) for r in params["RequestItems"].values()))

    def before_call(**_: object) -> tuple[object, dict[str, Any]] | None:
        if len(sizes) > times:
            return None
        return SimpleNamespace(status_code=200, headers={}), {"UnprocessedItems": sent[-1]}

    aws.dynamodb.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", before_build)
    aws.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", before_call)
    return sizes


def test_unprocessed_items_are_retried_with_capped_exponential_backoff(aws):
    sizes = unprocessed(aws, 7)
    slept: list[float] = []
    rows = [{"run_id": "r", "target_id": f"t{i}", "status": "pending"} for i in range(3)]
    assert batch_put(aws.dynamodb, TABLE, rows, sleep=slept.append) == 3
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]  # doubling from 50 ms, capped at 2 s
    assert sizes == [3] * 8  # the same three requests each time, written by the 8th call
    assert {r.target_id for page in aws.ledger.pages("r") for r in page} == {"t0", "t1", "t2"}


def test_items_still_unprocessed_after_the_last_attempt_are_a_clear_error(aws):
    sizes = unprocessed(aws, 100)
    slept: list[float] = []
    rows = [{"run_id": "r", "target_id": f"t{i}", "status": "pending"} for i in range(3)]
    with pytest.raises(UnprocessedItemsError, match="3 of 3 items still unprocessed after 8 BatchWriteItem"):
        batch_put(aws.dynamodb, TABLE, rows, sleep=slept.append)
    assert len(sizes) == dynamo.MAX_ATTEMPTS == 8
    assert len(slept) == 7  # no wait after the last attempt


def test_the_ledger_seed_gives_up_after_the_bound(aws, monkeypatch):
    unprocessed(aws, 100)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # the ledger's writer sleeps for real
    with pytest.raises(UnprocessedItemsError):
        aws.ledger.seed_pending("r", [Target(id="a")], 1)


def test_batches_hold_at_most_25_requests(aws):
    sizes = unprocessed(aws, 0)
    rows = [{"run_id": "r", "target_id": f"t{i:02d}"} for i in range(60)]
    assert batch_put(aws.dynamodb, TABLE, rows) == 60
    assert sizes == [25, 25, 10]


def test_rows_say_when_the_first_attempt_started_for_the_timeline(aws):
    ledger = Ledger(aws.dynamodb, TABLE)
    ledger.seed_pending("r", [Target(id="a"), Target(id="b")], 30)
    # GIVEN b's first attempt failed (started at 12:00:01), a finished after one rate-limit wait
    ledger.record_attempt_error("r", "b", 1, "TransientError: x", started_at="2026-12-06T12:00:01.000+00:00")
    result = SpokeResult(run_id="r", target_id="a", status="succeeded", attempts=1, duration_ms=5, detail={})
    assert ledger.mark_finished(result, 7, started_at="2026-12-06T12:00:02.500+00:00", rate_limit_waits=1)
    # THEN each row has the start of its first attempt; a's the rate-limit waits it had
    assert item(aws, "r", "b")["started_at"] == {"S": "2026-12-06T12:00:01.000+00:00"}
    assert item(aws, "r", "a")["started_at"] == {"S": "2026-12-06T12:00:02.500+00:00"}
    assert item(aws, "r", "a")["rate_limit_waits"] == {"N": "1"}
