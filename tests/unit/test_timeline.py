"""The HTML timeline's builder (hubspoke/timeline.py) on hand-written ledger rows and history: statuses and
concurrency over time, phases, the stop point, the tables, and every target-supplied string escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from hubspoke.timeline import build_timeline, clock_ratio, render_html

T0 = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """An ISO time `seconds` after T0, as the spoke writes it (+00:00)."""
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def event(seconds: float, kind: str, name: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"timestamp": T0 + timedelta(seconds=seconds), "type": kind}
    if name is not None:
        key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        found[key] = {"name": name}
    return found


def summary(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": "r1",
        "outcome": "failed",
        "status": "FAILED",
        "operation": "noop",
        "total": 4,
        "succeeded": 2,
        "unchanged": 0,
        "skipped": 1,
        "failed": 1,
        "lost": 0,
        "failure_rate": 25.0,
        "failure_threshold_percent": 0.0,
        "failed_targets": [],
        "durations": {"real_seconds": 100.0, "simulated_seconds": 100.0, "time_scale": 1.0},
        "waves_run": 1,
        "stopped_by": None,
        "skipped_by_reason": {},
    }
    return {**base, **fields}


ROWS = [
    {"target_id": "a", "status": "succeeded", "attempts": 1, "started_at": at(10), "updated_at": at(30)},
    {"target_id": "b", "status": "succeeded", "attempts": 3, "started_at": at(20), "updated_at": at(50)},
    # AWS writes RecordFailure's time with a Z
    {"target_id": "c", "status": "failed", "attempts": 1, "started_at": at(15), "updated_at": at(40)[:-6] + "Z"},
    {
        "target_id": "d",
        "status": "skipped",
        "attempts": 0,
        "updated_at": at(60),
        "detail": '{"reason":"canary failed"}',
    },
]
HISTORY = [
    event(0, "ExecutionStarted"),
    event(5, "MapStateEntered", "Spokes"),
    event(55, "MapStateExited", "Spokes"),
    event(55, "WaitStateEntered", "CanaryPause"),
    event(58, "WaitStateExited", "CanaryPause"),
    event(100, "ExecutionFailed"),
]


def test_statuses_over_time_from_each_targets_start_and_end():
    timeline = build_timeline(summary(), ROWS, HISTORY)
    assert timeline.length == 100.0
    # before any start all 4 pending; at 25 a, b and c running; at 45 a and c done, b running; at 70 all done
    assert timeline.counts_at(5)["pending"] == 4
    at_25 = timeline.counts_at(25)
    assert (at_25["running"], at_25["pending"], at_25["succeeded"]) == (3, 1, 0)
    at_45 = timeline.counts_at(45)
    assert (at_45["running"], at_45["succeeded"], at_45["failed"], at_45["pending"]) == (1, 1, 1, 1)
    at_70 = timeline.counts_at(70)
    assert (at_70["succeeded"], at_70["failed"], at_70["skipped"], at_70["running"], at_70["pending"]) == (
        2,
        1,
        1,
        0,
        0,
    )


def test_concurrency_steps_and_peak():
    timeline = build_timeline(summary(), ROWS, HISTORY)
    # a 10-30, c 15-40, b 20-50: 1, 2, 3 running, then 2, 1, 0
    assert timeline.concurrency() == [(0.0, 0), (10.0, 1), (15.0, 2), (20.0, 3), (30.0, 2), (40.0, 1), (50.0, 0)]
    assert timeline.peak() == 3


def test_phases_and_the_canary_stop_point():
    timeline = build_timeline(summary(stopped_by="canary"), ROWS, HISTORY)
    assert [(p.label, p.start, p.end) for p in timeline.phases] == [
        ("wave 1 (canary)", 5.0, 55.0),
        ("canary pause", 55.0, 58.0),
    ]
    assert timeline.stop_at == 60.0  # the first target skipped because the canary failed


def test_the_local_engines_scaled_clock_reads_in_simulated_seconds():
    scaled = summary(durations={"real_seconds": 1.0, "simulated_seconds": 100.0, "time_scale": 0.01})
    rows = [{"target_id": "a", "status": "succeeded", "attempts": 1, "started_at": at(0.1), "updated_at": at(0.3)}]
    timeline = build_timeline(scaled, rows, [event(0, "ExecutionStarted"), event(1, "ExecutionSucceeded")])
    assert round(timeline.length, 2) == 100.0
    assert [(round(t, 2), n) for t, n in timeline.concurrency()] == [(0.0, 0), (10.0, 1), (30.0, 0)]
    assert timeline.scale_note == "the local engine's scaled clock: 1 s real is 100 s simulated"


def test_the_ratio_comes_from_the_rows_when_the_summary_has_real_times_only():
    # `hubspoke report` (the operator client) knows no time scale: the spokes' own durations give it
    real_only = summary(durations={"real_seconds": 1.0, "simulated_seconds": 1.0})
    rows = [
        {"target_id": "a", "status": "succeeded", "started_at": at(0.1), "updated_at": at(0.3), "duration_ms": 20000},
        {"target_id": "b", "status": "succeeded", "started_at": at(0.2), "updated_at": at(0.4), "duration_ms": 20000},
    ]
    assert round(clock_ratio(real_only, rows)) == 100
    # on AWS the durations are real: 1 (a few milliseconds of difference are not a scaled clock)
    aws = [{**row, "duration_ms": 197} for row in rows]
    assert clock_ratio(real_only, aws) == 1.0
    # spans too short to measure at millisecond times say nothing: real seconds
    instant = [{**row, "updated_at": at(0.102), "duration_ms": 200} for row in rows[:1]]
    assert clock_ratio(real_only, instant) == 1.0


class _Page(HTMLParser):
    """The page's elements and the text of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.by_id: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._open.append(dict(attrs).get("id"))
        if dict(attrs).get("id"):
            self.by_id[str(dict(attrs)["id"])] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in self._open:
            if element_id:
                self.by_id[element_id] += data


HOSTILE = "<script>alert('x')</script>"


def _page(text: str) -> _Page:
    parsed = _Page()
    parsed.feed(text)
    return parsed


def test_target_supplied_strings_are_text_never_markup():
    failed = [
        {"id": HOSTILE, "error": "<b>Boom</b>", "attempts": 1, "cause": '{"errorMessage": "<img src=x onerror=1>"}'},
        {"id": "a\u202eb\x1b[2J", "error": "TargetError", "attempts": 2, "cause": "plain & simple"},
    ]
    rows = [
        {"target_id": HOSTILE, "status": "failed", "attempts": 3, "started_at": at(1), "updated_at": at(2)},
        {"target_id": "x", "status": "skipped", "attempts": 0, "updated_at": at(3), "detail": '{"reason":"<i>r</i>"}'},
    ]
    text = render_html(
        summary(run_id="<u>run</u>", failed_targets=failed, skipped_by_reason={"<i>r</i>": 1}),
        rows,
        build_timeline(summary(), rows, []),
    )
    page = _page(text)
    # no element came from the data: only the page's own tags
    assert not {"script", "img", "b", "i", "u"} & set(page.tags)
    assert "<script>" not in text
    assert page.by_id["run-id"] == "<u>run</u>"
    cells = re.findall(r"<td>(.*?)</td>", text.split('id="failed-targets"')[1].split("</table>")[0])
    assert cells[:4] == ["&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", "&lt;b&gt;Boom&lt;/b&gt;", "1",
                         "&lt;img src=x onerror=1&gt;"]  # fmt: skip
    # bidi and control characters are shown as escapes, not obeyed
    assert "\u202e" not in text
    assert "\x1b" not in text
    assert "a\\u202eb\\x1b[2J" in page.by_id["failed-targets"]
    assert "plain &amp; simple" in text


def test_counts_waves_and_gate_waits_shown_when_present():
    waves = [
        {"index": 0, "targets": 50, "max_concurrency": 10, "peak_concurrency": 10, "failed": 0, "rate_limited": 15,
         "reason": "start"},
        {"index": 1, "targets": 50, "max_concurrency": 5, "peak_concurrency": 5, "failed": 0, "rate_limited": 0,
         "reason": "halved: 30 % rate-limited"},
    ]  # fmt: skip
    waits = [{"wave": 2, "wait_seconds": 120, "remaining": 3, "needed": 50, "reason": "budget low"}]
    the_summary = summary(waves=waves, budget_waits=waits)
    two_waves = [
        event(0, "ExecutionStarted"),
        event(5, "MapStateEntered", "Spokes"),
        event(40, "MapStateExited", "Spokes"),
        event(40, "WaitStateEntered", "WaitForBudget"),
        event(50, "WaitStateExited", "WaitForBudget"),
        event(50, "MapStateEntered", "Spokes"),
        event(90, "MapStateExited", "Spokes"),
        event(100, "ExecutionSucceeded"),
    ]
    timeline = build_timeline(the_summary, ROWS, two_waves)
    assert [p.label for p in timeline.phases] == ["wave 1", "gate wait", "wave 2"]
    text = render_html(the_summary, ROWS, timeline)
    # each wave's concurrency limit is marked on the concurrency chart, its reason in the wave's tooltip
    concurrency = text.split('id="chart-concurrency"')[1].split("</svg>")[0]
    assert concurrency.count('class="limit"') == 2
    tooltip = "wave 2: 50 s to 90 s; targets 50, max concurrency 5, peak concurrency 5, failed 0, rate limited 0"
    assert f"{tooltip} (halved: 30 % rate-limited)" in text
    page = _page(text)
    counts = {k: page.by_id[f"count-{k}"] for k in ("total", "succeeded", "unchanged", "skipped", "failed", "lost")}
    assert counts == {"total": "4", "succeeded": "2", "unchanged": "0", "skipped": "1", "failed": "1", "lost": "0"}
    assert "halved: 30 % rate-limited" in page.by_id["waves"]
    assert "budget low" in page.by_id["gate-waits"]
    assert "1 target(s) needed more than one attempt" in page.by_id["retries"]


def test_a_summary_without_waves_stop_or_failures_still_renders():
    quiet = summary(outcome="succeeded", status="SUCCEEDED", failed=0, skipped=0, total=1, succeeded=1)
    rows = [{"target_id": "a", "status": "succeeded", "attempts": 1, "started_at": at(1), "updated_at": at(2)}]
    page = _page(render_html(quiet, rows, build_timeline(quiet, rows, [])))
    assert "waves" not in page.by_id
    assert "stopped-by" not in page.by_id
    assert page.by_id["no-failures"] == "No target failed."
    assert page.by_id["outcome"] == "SUCCEEDED"
    assert 'class="limit"' not in render_html(quiet, rows, build_timeline(quiet, rows, HISTORY))
