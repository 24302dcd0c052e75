"""The run ledger: one DynamoDB row per (run_id, target_id), the system of record for spoke results.

Statuses: pending -> succeeded | unchanged | skipped | failed. The `failed` row is written by the
state machine's RecordFailure task (stacks/workflow.py), which never overwrites a success.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.errors import TransientError, aws_error_code, is_conditional_failure, is_retryable_aws_error
from shared.models import SpokeResult, Target
from shared.observability import logger

PENDING = "pending"
FAILED = "failed"
TERMINAL_OK = ("succeeded", "unchanged", "skipped")
_BATCH = 25  # BatchWriteItem's limit
_MAX_CAUSE = 4000  # keep rows small; the full cause is in the execution history


@dataclass(frozen=True)
class LedgerRow:
    run_id: str
    target_id: str
    status: str
    attempts: int
    duration_ms: int | None
    error: str | None
    cause: str | None
    detail: dict[str, Any]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _key(run_id: str, target_id: str) -> dict[str, Any]:
    return {"run_id": {"S": run_id}, "target_id": {"S": target_id}}


@contextmanager
def _throttling_is_transient(action: str) -> Iterator[None]:
    """A throttle or 5xx that outlasted botocore's retries becomes a TransientError (retried by Step Functions)."""
    try:
        yield
    except ClientError as err:
        if is_retryable_aws_error(err):
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise TransientError(f"ledger {action}: {aws_error_code(err) or status}: {err}") from err
        raise


class Ledger:
    """Ledger access over a low-level DynamoDB client (cheap per call, thread-safe)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def seed_pending(self, run_id: str, targets: Iterable[Target], ttl_days: int) -> int:
        """Write one `pending` row per target; returns how many were written."""
        expires = str(int(time.time()) + ttl_days * 86400)
        now = _now_iso()
        batch: list[dict[str, Any]] = []
        count = 0
        for target in targets:
            item = {
                **_key(run_id, target.id),
                "status": {"S": PENDING},
                "attempts": {"N": "0"},
                "created_at": {"S": now},
                "expires_at": {"N": expires},
            }
            batch.append({"PutRequest": {"Item": item}})
            count += 1
            if len(batch) == _BATCH:
                self._write_batch(batch)
                batch = []
        if batch:
            self._write_batch(batch)
        return count

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._table: requests}
        for _ in range(8):
            with _throttling_is_transient("BatchWriteItem"):
                resp = self._db.batch_write_item(RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05)
        raise RuntimeError(f"ledger: {len(pending.get(self._table, []))} rows left unprocessed")

    def mark_finished(self, result: SpokeResult, ttl_days: int) -> bool:
        """Record a target the operation finished; False if the state machine already recorded it failed.

        A spoke that outlives its task timeout finishes after RecordFailure: the first terminal row wins,
        so the ledger agrees with what the run reported. A conditional put (not an update) because it is
        the whole row anyway and costs half as much to evaluate.
        """
        item = {
            **_key(result.run_id, result.target_id),
            "status": {"S": result.status},
            "attempts": {"N": str(result.attempts)},
            "duration_ms": {"N": str(result.duration_ms)},
            "detail": {"S": json.dumps(result.detail, separators=(",", ":"), default=str)},
            "updated_at": {"S": _now_iso()},
            "expires_at": {"N": str(int(time.time()) + ttl_days * 86400)},
        }
        try:
            with _throttling_is_transient("PutItem"):
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_exists(run_id) AND #s <> :failed",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":failed": {"S": FAILED}},
                )
        except ClientError as err:
            if is_conditional_failure(err):
                return False
            raise
        return True

    def record_attempt_error(self, run_id: str, target_id: str, attempt: int, error: str) -> None:
        """Note a failed attempt on a pending row, so attempts are known even if the spoke is retried.

        Best effort: it runs while the attempt's own error propagates, and must never replace that error (a
        throttled note would turn a retried RateLimitError into a failure no Retry matches).
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(run_id, target_id),
                UpdateExpression="SET attempts = :a, last_error = :e, updated_at = :now",
                ConditionExpression="attribute_exists(run_id) AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":a": {"N": str(attempt)},
                    ":e": {"S": error[:_MAX_CAUSE]},
                    ":pending": {"S": PENDING},
                    ":now": {"S": _now_iso()},
                },
            )
        except Exception as err:
            if isinstance(err, ClientError) and is_conditional_failure(err):
                return  # no longer pending: a terminal row is there already
            logger.warning("attempt not noted in the ledger", extra={"target_id": target_id, "cause": str(err)})

    def pages(self, run_id: str, page_size: int = 1000) -> Iterator[list[LedgerRow]]:
        """The run's rows, one query page at a time (memory bounded by the page size)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "run_id = :r",
            "ExpressionAttributeValues": {":r": {"S": run_id}},
            "ConsistentRead": True,
            "Limit": page_size,
        }
        while True:
            with _throttling_is_transient("Query"):
                resp = self._db.query(**kwargs)
            yield [_row(item) for item in resp.get("Items", [])]
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


def _row(item: dict[str, Any]) -> LedgerRow:
    def s(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    def n(name: str) -> int | None:
        value = item.get(name)
        return int(float(value["N"])) if value else None

    detail_raw = s("detail")
    return LedgerRow(
        run_id=item["run_id"]["S"],
        target_id=item["target_id"]["S"],
        status=item["status"]["S"],
        attempts=n("attempts") or 0,
        duration_ms=n("duration_ms"),
        error=s("error_type"),
        cause=s("cause"),
        detail=json.loads(detail_raw) if detail_raw else {},
    )
