"""Streaming aggregation of ledger rows: memory grows with failures, never with successes."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from shared.ledger import FAILED, PENDING, SKIPPED, LedgerRow
from shared.models import CIRCUIT_OPEN, DurationStats, FailedTarget, ManifestLocation, RunContext, Summary
from summarize.waves import WaveTally

NO_REASON = "no reason given"
_RATIO = 1.05  # log-bucket width: percentiles are reported within 5 %


class DurationHistogram:
    """Log-bucketed histogram: a bounded number of buckets whatever the number of samples."""

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.min_ms: int | None = None
        self.max_ms: int | None = None

    def add(self, ms: int) -> None:
        ms = max(ms, 0)
        self.buckets[0 if ms < 1 else math.ceil(math.log(ms, _RATIO))] += 1
        self.count += 1
        self.min_ms = ms if self.min_ms is None else min(self.min_ms, ms)
        self.max_ms = ms if self.max_ms is None else max(self.max_ms, ms)

    def percentile(self, p: float) -> int | None:
        if not self.count:
            return None
        rank = max(1, math.ceil(p / 100 * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                upper = 0 if index == 0 else round(_RATIO**index)
                # Clamp to what was observed so p100 is exact and small runs read naturally.
                return max(min(upper, self.max_ms or 0), self.min_ms or 0)
        return self.max_ms

    def stats(self) -> DurationStats:
        return DurationStats(
            count=self.count,
            min_ms=self.min_ms,
            p50_ms=self.percentile(50),
            p90_ms=self.percentile(90),
            p99_ms=self.percentile(99),
            max_ms=self.max_ms,
        )


def readable_cause(cause: str | None) -> str:
    """Step Functions gives a Lambda error's cause as the runtime's JSON; keep the message a person reads."""
    if not cause:
        return ""
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(data, dict) and "errorMessage" in data:
        return str(data["errorMessage"])
    return cause


class RunAggregate:
    """Totals of one run, fed one ledger row at a time."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.attempts: Counter[int] = Counter()
        self.durations = DurationHistogram()
        self.failed: list[FailedTarget] = []
        self.skip_reasons: Counter[str] = Counter()
        self.waves = WaveTally()

    def add(self, row: LedgerRow) -> None:
        self.statuses[row.status] += 1
        self.waves.add(row)
        if row.status != PENDING:
            self.attempts[max(row.attempts, 1)] += 1
        if row.duration_ms is not None:
            self.durations.add(row.duration_ms)
        if row.status == SKIPPED:
            reason = row.detail.get("reason")
            self.skip_reasons[reason if isinstance(reason, str) and reason else NO_REASON] += 1
        if row.status == FAILED:
            error = row.error or "Unknown"
            self.errors[error] += 1
            cause = readable_cause(row.cause)
            self.failed.append(FailedTarget(id=row.target_id, error=error, cause=cause, attempts=max(row.attempts, 1)))

    def add_all(self, rows: Iterable[LedgerRow]) -> None:
        for row in rows:
            self.add(row)

    def stopped_by(self, canary_stopped: bool) -> Literal["canary", "circuit_breaker"] | None:
        """What stopped the run early: the canary (the state machine said so), else the breaker when any
        target was skipped for an open circuit."""
        if canary_stopped:
            return "canary"
        if any(reason.startswith(CIRCUIT_OPEN) for reason in self.skip_reasons):
            return "circuit_breaker"
        return None

    def summary(
        self,
        run: RunContext,
        threshold: float,
        report: ManifestLocation | None = None,
        *,
        canary_stopped: bool = False,
    ) -> Summary:
        total = sum(self.statuses.values())
        failed = self.statuses[FAILED]
        lost = self.statuses[PENDING]
        rate = round(100.0 * failed / total, 2) if total else 0.0
        stopped_by = self.stopped_by(canary_stopped)
        # A stopped run did not apply the change everywhere: failed, whatever its rate over all targets.
        outcome = "failed" if rate > threshold or lost > 0 or stopped_by else "succeeded"
        return Summary(
            run_id=run.run_id,
            operation=run.operation,
            total=total,
            succeeded=self.statuses["succeeded"],
            unchanged=self.statuses["unchanged"],
            skipped=self.statuses["skipped"],
            failed=failed,
            lost=lost,
            failure_rate=rate,
            failure_threshold_percent=threshold,
            outcome=outcome,
            failures_by_error=dict(self.errors.most_common()),
            attempts_histogram={str(k): v for k, v in sorted(self.attempts.items())},
            durations=self.durations.stats(),
            failed_targets=sorted(self.failed, key=lambda f: f.id),
            report=report,
            stopped_by=stopped_by,
            skipped_by_reason=dict(self.skip_reasons.most_common()),
        )
