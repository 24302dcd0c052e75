"""The run ledger: one DynamoDB row per (run_id, target_id), the system of record for spoke results.

Statuses: pending -> succeeded | unchanged | skipped | failed. The `failed` row is written by the
state machine's RecordFailure task (stacks/workflow/failure.py), which never overwrites a success and sets
`failed_run` (the run id), the key of the sparse index of failed rows (stacks/ledger_index.py): no other write
sets it, and a put here replaces the whole row, so only failed rows are in that index.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.dynamo import batch_put, from_item, query_items, to_item
from shared.errors import TransientError, aws_error_code, is_conditional_failure, is_retryable_aws_error
from shared.models import SpokeResult, Target
from shared.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING = "pending"
FAILED = "failed"
SKIPPED = "skipped"
# The run's counters (failures, finished) live in a partition of their own, "<run_id>#counters" ('#' is not
# allowed in a run id): a query of the run's rows never sees them, so no reader counts them as a target.
COUNTERS_SUFFIX = "#counters"
COUNTERS_SORT_KEY = "counters"
TERMINAL_OK = ("succeeded", "unchanged", "skipped")
DAY_SECONDS = 86400
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
    # With a canary: 0 for a row in the canary wave, 1 for the rows after it (None: the run has no canary).
    wave: int | None = None


@dataclass(frozen=True)
class Counters:
    """What the run has recorded so far: failures (RecordFailure's CountFailure) and successes (spokes, only
    when the circuit breaker is a percentage)."""

    failures: int = 0
    succeeded: int = 0

    @property
    def finished(self) -> int:
        return self.failures + self.succeeded


def counters_key(run_id: str) -> dict[str, Any]:
    """The counters item's key (the state machine builds the same key with States.Format)."""
    return _key(f"{run_id}{COUNTERS_SUFFIX}", COUNTERS_SORT_KEY)


def now_iso() -> str:
    """The ledger's timestamps: UTC, ISO 8601, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_now_iso = now_iso


def _key(run_id: str, target_id: str) -> dict[str, Any]:
    return to_item({"run_id": run_id, "target_id": target_id})


def iter_run_rows(
    client: DynamoDBClient,
    table: str,
    run_id: str,
    projection: Sequence[str] | None = None,
    *,
    consistent: bool = False,
    page_size: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """A run's rows as plain dicts, one query page at a time (`projection`: only these attributes)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "run_id = :r",
        "ExpressionAttributeValues": to_item({":r": run_id}),
        "ConsistentRead": consistent,
    }
    if projection:
        # Placeholders for every name: 'status' (and others) are DynamoDB reserved words.
        names = {f"#p{i}": name for i, name in enumerate(projection)}
        kwargs.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
    yield from query_items(client, page_size, **kwargs)


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

    def __init__(self, dynamodb: DynamoDBClient, table: str, now: Callable[[], float] = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._now = now

    def _expires(self, ttl_days: int) -> int:
        """The TTL attribute: epoch SECONDS (what DynamoDB TTL reads), ttl_days from now."""
        return int(self._now()) + ttl_days * DAY_SECONDS

    def seed_pending(self, run_id: str, targets: Iterable[Target], ttl_days: int, canary: int = 0) -> int:
        """Write one `pending` row per target; returns how many were written. With a `canary` (its first
        targets), each row also says whether it is in it (`wave` 0) or after it (1)."""
        expires = self._expires(ttl_days)
        now = _now_iso()
        rows = (
            {
                "run_id": run_id,
                "target_id": target.id,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
                "expires_at": expires,
                **({"wave": 0 if index < canary else 1} if canary else {}),
            }
            for index, target in enumerate(targets)
        )
        with _throttling_is_transient("BatchWriteItem"):
            return batch_put(self._db, self._table, rows)

    def seed_counters(self, run_id: str, ttl_days: int) -> None:
        """The run's counters item at zero (with the seeding batch's grant: one BatchWriteItem). CountFailure
        only adds to an item that exists, so a run without a canary or breaker never gets one."""
        item = {**from_item(counters_key(run_id)), "failures": 0, "succeeded": 0, "expires_at": self._expires(ttl_days)}
        with _throttling_is_transient("BatchWriteItem"):
            batch_put(self._db, self._table, [item])

    def read_counters(self, run_id: str) -> Counters | None:
        """One strongly consistent GetItem of the counters item; None when the run has none."""
        with _throttling_is_transient("GetItem"):
            found = self._db.get_item(TableName=self._table, Key=counters_key(run_id), ConsistentRead=True)
        if "Item" not in found:
            return None
        values = from_item(found["Item"])
        return Counters(failures=int(values.get("failures") or 0), succeeded=int(values.get("succeeded") or 0))

    def count_success(self, run_id: str) -> None:
        """Add one to the run's finished-and-not-failed count (a percentage breaker's denominator). Best effort:
        the target's own row is already written, and a lost count only makes the breaker open later."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=counters_key(run_id),
                UpdateExpression="ADD succeeded :one",
                ConditionExpression="attribute_exists(run_id)",
                ExpressionAttributeValues=to_item({":one": 1}),
            )
        except Exception as err:
            logger.warning("success not counted", extra={"run_id": run_id, "cause": str(err)})

    def skip_after_canary(self, run_id: str, reason: str) -> int:
        """Record every target after the canary that is still pending as skipped with `reason` (no spoke ran
        for them: the state machine stopped after the canary); returns how many. One BatchWriteItem per 25
        rows; each row keeps its seeded expiry."""
        now = _now_iso()
        detail = json.dumps({"reason": reason}, separators=(",", ":"))
        projection = ("run_id", "target_id", "status", "wave", "expires_at")
        with _throttling_is_transient("Query"):
            skipped = [
                {**row, "status": SKIPPED, "attempts": 0, "detail": detail, "updated_at": now}
                for page in iter_run_rows(self._db, self._table, run_id, projection, consistent=True)
                for row in page
                if row.get("status") == PENDING and row.get("wave") == 1
            ]
        with _throttling_is_transient("BatchWriteItem"):
            return batch_put(self._db, self._table, skipped)

    def mark_finished(
        self, result: SpokeResult, ttl_days: int, started_at: str | None = None, rate_limit_waits: int = 0
    ) -> bool:
        """Record a target the operation finished; False if the state machine already recorded it failed.
        `started_at`: when this (the last) attempt began, and `rate_limit_waits` the target's rate-limit waits
        before it: the timeline report draws each target from started_at to updated_at (hubspoke/timeline.py).

        A spoke that outlives its task timeout finishes after RecordFailure: the first terminal row wins,
        so the ledger agrees with what the run reported. A conditional put (not an update) because it is
        the whole row anyway and costs half as much to evaluate.
        """
        item = to_item(
            {
                "run_id": result.run_id,
                "target_id": result.target_id,
                "status": result.status,
                "attempts": result.attempts,
                "duration_ms": result.duration_ms,
                "detail": json.dumps(result.detail, separators=(",", ":"), default=str),
                "updated_at": _now_iso(),
                "expires_at": self._expires(ttl_days),
                **({"started_at": started_at} if started_at else {}),
                **({"rate_limit_waits": rate_limit_waits} if rate_limit_waits else {}),
            }
        )
        try:
            with _throttling_is_transient("PutItem"):
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_exists(run_id) AND #s <> :failed",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=to_item({":failed": FAILED}),
                )
        except ClientError as err:
            if is_conditional_failure(err):
                return False
            raise
        return True

    def record_attempt_error(
        self, run_id: str, target_id: str, attempt: int, error: str, started_at: str | None = None
    ) -> None:
        """Note a failed attempt on a pending row, so attempts are known even if the spoke is retried.
        `started_at`: when the attempt began; a target that ends failed is drawn from its last attempt's start.

        Best effort: it runs while the attempt's own error propagates, and must never replace that error (a
        throttled note would turn a retried RateLimitError into a failure no Retry matches).
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(run_id, target_id),
                UpdateExpression="SET attempts = :a, last_error = :e, updated_at = :now, started_at = :start",
                ConditionExpression="attribute_exists(run_id) AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":a": attempt,
                        ":e": error[:_MAX_CAUSE],
                        ":pending": PENDING,
                        ":now": (now := _now_iso()),
                        ":start": started_at or now,
                    }
                ),
            )
        except Exception as err:
            if isinstance(err, ClientError) and is_conditional_failure(err):
                return  # no longer pending: a terminal row is there already
            logger.warning("attempt not noted in the ledger", extra={"target_id": target_id, "cause": str(err)})

    def pages(self, run_id: str, page_size: int = 1000) -> Iterator[list[LedgerRow]]:
        """The run's rows, one query page at a time (memory bounded by the page size)."""
        with _throttling_is_transient("Query"):
            for page in iter_run_rows(self._db, self._table, run_id, consistent=True, page_size=page_size):
                yield [_row(values) for values in page]


def _row(values: dict[str, Any]) -> LedgerRow:
    detail_raw = values.get("detail")
    duration = values.get("duration_ms")
    return LedgerRow(
        run_id=values["run_id"],
        target_id=values["target_id"],
        status=values["status"],
        attempts=int(values.get("attempts") or 0),
        duration_ms=None if duration is None else int(duration),
        error=values.get("error_type"),
        cause=values.get("cause"),
        detail=json.loads(detail_raw) if detail_raw else {},
        wave=None if values.get("wave") is None else int(values["wave"]),
    )
