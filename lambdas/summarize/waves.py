"""Each wave of a run as it ran: targets, failures, rate-limited targets, concurrency and peak concurrency.

The counts come from the ledger rows (each row says its wave); the concurrency a wave ran at and why it changed
from the run's counters item (the gate records them under adaptive concurrency; else the run's max_concurrency).
The peak is a sweep over the rows' start and end times: it keeps two numbers per target that ran, the only part
of the summary that grows with the number of targets (16 bytes each: 10,000 targets, 160 KB).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from shared.ledger import FAILED, Counters, LedgerRow
from shared.models import WaveSummary


def _instant(text: str) -> float:
    """Epoch seconds of an ISO 8601 time as the ledger writes it (the spoke's, or Step Functions' with a Z)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def peak(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant; an interval that ends when another starts does not overlap it (a
    Map slot is freed before the next child starts)."""
    # At one instant, ends (-1) sort before starts (+1).
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = highest = 0
    for _, change in events:
        running += change
        highest = max(highest, running)
    return highest


class WaveTally:
    """Per-wave counts, fed one ledger row at a time."""

    def __init__(self) -> None:
        self.targets: Counter[int] = Counter()
        self.failed: Counter[int] = Counter()
        self.rate_limited: Counter[int] = Counter()
        self.intervals: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)

    def add(self, row: LedgerRow) -> None:
        wave = row.wave or 0
        self.targets[wave] += 1
        if row.status == FAILED:
            self.failed[wave] += 1
        if row.rate_limited:
            self.rate_limited[wave] += 1
        if row.started_at and row.ended_at:
            try:
                start, end = _instant(row.started_at), _instant(row.ended_at)
            except ValueError:
                return  # a time we cannot read counts in no peak
            # Clocks of different writers (a spoke, Step Functions' RecordFailure) may disagree by a little.
            self.intervals[wave].append((start, max(start, end)))

    def waves(self, waves_run: int, max_concurrency: int | None, counters: Counters | None) -> list[WaveSummary]:
        """One entry per wave that ran: the first `waves_run`, and any later one whose spokes ran (a Map that
        failed part way)."""
        ran = set(range(waves_run)) | set(self.intervals)
        found = []
        for index in sorted(i for i in ran if self.targets[i]):
            recorded = counters.wave(index) if counters is not None else None
            concurrency = recorded.concurrency if recorded is not None else None
            found.append(
                WaveSummary(
                    index=index,
                    targets=self.targets[index],
                    max_concurrency=concurrency or max_concurrency or 0,
                    peak_concurrency=peak(self.intervals[index]),
                    failed=self.failed[index],
                    rate_limited=self.rate_limited[index],
                    reason=recorded.reason if recorded is not None else None,
                )
            )
        return found
