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

from shared.adaptive import concurrency_attribute, rate_limited_attribute, reason_attribute
from shared.dynamo import batch_put, from_item, query_items, to_item
from shared.errors import TransientError, aws_error_code, is_conditional_failure, is_retryable_aws_error
from shared.models import SpokeResult, Target, Waves
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
    # The wave the target runs in (0 is the canary's, when the run has one; None: a row seeded without it).
    wave: int | None = None
    # When the spoke first started on the target and when its row was last written (ISO 8601, UTC): the
    # summary's peak concurrency per wave. None when no spoke ran (pending, skipped after a canary).
    started_at: str | None = None
    ended_at: str | None = None
    # The target met at least one rate limit (RateLimitError) on its way.
    rate_limited: bool = False


@dataclass(frozen=True)
class WaveCounters:
    """What the run's counters item says of one wave: rate-limited targets, the concurrency it ran at (None: not
    recorded; the run has no adaptive concurrency) and why it changed."""

    rate_limited: int = 0
    concurrency: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Counters:
    """What the run has recorded so far: failures (RecordFailure's CountFailure) and successes (spokes, only
    when the circuit breaker is a percentage)."""

    failures: int = 0
    succeeded: int = 0
    # The whole item, for the per-wave attributes of adaptive concurrency (see wave()).
    values: dict[str, Any] | None = None

    @property
    def finished(self) -> int:
        return self.failures + self.succeeded

    def wave(self, index: int) -> WaveCounters:
        """The counts and records of wave `index` (zeros and None when there are none)."""
        values = self.values or {}
        concurrency = values.get(concurrency_attribute(index))
        reason = values.get(reason_attribute(index))
        return WaveCounters(
            rate_limited=int(values.get(rate_limited_attribute(index)) or 0),
            concurrency=None if concurrency is None else int(concurrency),
            reason=reason if isinstance(reason, str) and reason else None,
        )


def counters_key(run_id: str) -> dict[str, Any]:
    """The counters item's key (the state machine builds the same key with States.Format)."""
    return _key(f"{run_id}{COUNTERS_SUFFIX}", COUNTERS_SORT_KEY)


def now_iso() -> str:
    """Now, as ledger rows record it (ISO 8601 in UTC). In microseconds: the summary's peak concurrency compares
    one spoke's end with another's start, and a spoke of no real work starts and ends within a millisecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


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

    def seed_pending(
        self, run_id: str, targets: Iterable[Target], ttl_days: int, canary: int = 0, waves: Waves | None = None
    ) -> int:
        """Write one `pending` row per target; returns how many were written. Each row says which wave it is in:
        from `waves`, else 0 for a `canary`'s first targets and 1 after them (no `wave` without either)."""
        expires = self._expires(ttl_days)
        now = now_iso()
        rows = (
            {
                "run_id": run_id,
                "target_id": target.id,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
                "expires_at": expires,
                **_wave_of(index, canary, waves),
            }
            for index, target in enumerate(targets)
        )
        with _throttling_is_transient("BatchWriteItem"):
            return batch_put(self._db, self._table, rows)

    def seed_counters(self, run_id: str, ttl_days: int) -> None:
        """The run's counters item at zero (with the seeding batch's grant: one BatchWriteItem). CountFailure
        only adds to an item that exists, so a run without a canary, breaker or adaptive concurrency never gets
        one."""
        item = {**from_item(counters_key(run_id)), "failures": 0, "succeeded": 0, "expires_at": self._expires(ttl_days)}
        with _throttling_is_transient("BatchWriteItem"):
            batch_put(self._db, self._table, [item])

    def read_counters(self, run_id: str) -> Counters | None:
        """One strongly consistent GetItem of the counters item; None when the run has none."""
        with _throttling_is_transient("GetItem"):
            found = self._db.get_item(TableName=self._table, Key=counters_key(run_id), ConsistentRead=True)
        if "Item" not in found:
            return None
        return _counters(from_item(found["Item"]))

    def counters_of_finished_run(self, run_id: str) -> Counters | None:
        """The counters item read with a Query of its partition (Summarize's grant), strongly consistent."""
        with _throttling_is_transient("Query"):
            for page in iter_run_rows(self._db, self._table, f"{run_id}{COUNTERS_SUFFIX}", consistent=True):
                for values in page:
                    if values.get("target_id") == COUNTERS_SORT_KEY:
                        return _counters(values)
        return None

    def count_rate_limited(self, run_id: str, wave: int) -> None:
        """Add one to the wave's count of rate-limited targets (adaptive concurrency reads it before the next
        wave). Best effort, like count_success: a lost count only makes the next wave less cautious."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=counters_key(run_id),
                UpdateExpression="ADD #w :one",
                ConditionExpression="attribute_exists(run_id)",
                ExpressionAttributeNames={"#w": rate_limited_attribute(wave)},
                ExpressionAttributeValues=to_item({":one": 1}),
            )
        except Exception as err:
            logger.warning("rate limit not counted", extra={"run_id": run_id, "cause": str(err)})

    def record_wave_concurrency(self, run_id: str, wave: int, concurrency: int, reason: str | None) -> None:
        """The gate's decision for a wave, for the summary: the concurrency it runs at and why it changed."""
        names = {"#c": concurrency_attribute(wave), "#r": reason_attribute(wave)}
        with _throttling_is_transient("UpdateItem"):
            self._db.update_item(
                TableName=self._table,
                Key=counters_key(run_id),
                UpdateExpression="SET #c = :c, #r = :r",
                ConditionExpression="attribute_exists(run_id)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item({":c": concurrency, ":r": reason or ""}),
            )

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
        now = now_iso()
        detail = json.dumps({"reason": reason}, separators=(",", ":"))
        projection = ("run_id", "target_id", "status", "wave", "expires_at")
        with _throttling_is_transient("Query"):
            skipped = [
                {**row, "status": SKIPPED, "attempts": 0, "detail": detail, "updated_at": now}
                for page in iter_run_rows(self._db, self._table, run_id, projection, consistent=True)
                for row in page
                if row.get("status") == PENDING and int(row.get("wave") or 0) >= 1
            ]
        with _throttling_is_transient("BatchWriteItem"):
            return batch_put(self._db, self._table, skipped)

    def mark_finished(
        self,
        result: SpokeResult,
        ttl_days: int,
        *,
        started_at: str | None = None,
        wave: int | None = None,
        first_attempt: bool = True,
        rate_limit_waits: int = 0,
    ) -> bool:
        """Record a target the operation finished; False if the state machine already recorded it failed.

        A spoke that outlives its task timeout finishes after RecordFailure: the first terminal row wins,
        so the ledger agrees with what the run reported. A conditional put (not an update) because it is
        the whole row anyway and costs half as much to evaluate. `started_at` is when this attempt started
        (ISO 8601), `wave` the target's wave, `rate_limit_waits` its waits for a reset a target named (the
        timeline report lists them). After an earlier attempt failed, the row's notes of it (when the
        target was first started, its rate limits) are read first and kept: one GetItem, for retried targets only.
        """
        carried = {} if first_attempt else self._earlier_attempts(result.run_id, result.target_id)
        item = to_item(
            {
                "run_id": result.run_id,
                "target_id": result.target_id,
                "status": result.status,
                "attempts": result.attempts,
                "duration_ms": result.duration_ms,
                "detail": json.dumps(result.detail, separators=(",", ":"), default=str),
                "updated_at": now_iso(),
                "expires_at": self._expires(ttl_days),
                "started_at": started_at,
                "wave": wave,
                **({"rate_limit_waits": rate_limit_waits} if rate_limit_waits else {}),
                **carried,
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

    def _earlier_attempts(self, run_id: str, target_id: str) -> dict[str, Any]:
        """What failed attempts noted on the row (record_attempt_error): `started_at`, `rate_limits`. Best effort:
        without it the row's start is this attempt's, which only makes the summary's peak lower."""
        try:
            found = self._db.get_item(
                TableName=self._table,
                Key=_key(run_id, target_id),
                ConsistentRead=True,
                ProjectionExpression="started_at, rate_limits",
            )
        except Exception as err:
            logger.warning("earlier attempts not read", extra={"target_id": target_id, "cause": str(err)})
            return {}
        return {k: v for k, v in from_item(found.get("Item") or {}).items() if k in ("started_at", "rate_limits")}

    def record_attempt_error(
        self,
        run_id: str,
        target_id: str,
        attempt: int,
        error: str,
        *,
        started_at: str | None = None,
        rate_limited: bool = False,
    ) -> bool:
        """Note a failed attempt on a pending row, so attempts are known even if the spoke is retried: when
        the target was first started and, for a rate limit, that it met one. Returns True when this attempt is
        the target's first rate limit (the row did not say so yet).

        Best effort: it runs while the attempt's own error propagates, and must never replace that error (a
        throttled note would turn a retried RateLimitError into a failure no Retry matches).
        """
        sets = ["attempts = :a", "last_error = :e", "updated_at = :now"]
        values: dict[str, Any] = {":a": attempt, ":e": error[:_MAX_CAUSE], ":pending": PENDING, ":now": now_iso()}
        if started_at:
            sets.append("started_at = if_not_exists(started_at, :start)")
            values[":start"] = started_at
        # A count of the target's rate-limited attempts: a value that changes with every one, so UPDATED_OLD
        # returns it whenever there was one before (DynamoDB, and moto, which returns only changed attributes).
        adds = " ADD rate_limits :one" if rate_limited else ""
        if rate_limited:
            values[":one"] = 1
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key=_key(run_id, target_id),
                UpdateExpression="SET " + ", ".join(sets) + adds,
                ConditionExpression="attribute_exists(run_id) AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(values),
                # The old values of what changed: no `rate_limits` before means this is the first rate limit.
                ReturnValues="UPDATED_OLD",
            )
        except Exception as err:
            if isinstance(err, ClientError) and is_conditional_failure(err):
                return False  # no longer pending: a terminal row is there already
            logger.warning("attempt not noted in the ledger", extra={"target_id": target_id, "cause": str(err)})
            return False
        return rate_limited and "rate_limits" not in (answer.get("Attributes") or {})

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
        started_at=values.get("started_at"),
        ended_at=values.get("updated_at"),
        rate_limited=int(values.get("rate_limits") or 0) > 0,
    )


def _counters(values: dict[str, Any]) -> Counters:
    return Counters(
        failures=int(values.get("failures") or 0), succeeded=int(values.get("succeeded") or 0), values=values
    )


def _wave_of(position: int, canary: int, waves: Waves | None) -> dict[str, int]:
    """The seeded row's `wave` attribute (none for a run seeded without waves or a canary)."""
    if waves is not None:
        return {"wave": waves.index_of(position)}
    if canary:
        return {"wave": 0 if position < canary else 1}
    return {}
