"""A run's timeline as one self-contained HTML page (inline CSS and SVG, no script, no URL): targets over time by
status, spokes running at once, waves, pauses and gate waits, where a canary or circuit breaker stopped the
run, and the failed targets. From the summary, the ledger rows and the execution history, on either backend.

Every string a target, a source or AWS supplied (ids, errors, causes, reasons) is escaped; the page's
Content-Security-Policy forbids scripts and every fetch, so even a missed escape could neither run nor call out.
"""

from __future__ import annotations

import html
import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from hubspoke.console import UNSHOWABLE
from hubspoke.report import STOPPED_BY, readable

# Bottom to top in the stacked chart: what is done first, then what is still going on.
STATUSES = ("succeeded", "unchanged", "skipped", "failed", "running", "pending")
COLORS = {
    "succeeded": "#2e7d32",
    "unchanged": "#81c784",
    "skipped": "#9e9e9e",
    "failed": "#c62828",
    "running": "#1565c0",
    "pending": "#e0e0e0",
}
# The workflow's states a person sees as phases of the run (stacks/workflow): their name, and their colour.
PHASES = {
    "Spokes": ("wave", "#bbdefb"),
    "WavePause": ("wave pause", "#fff9c4"),
    "CanaryPause": ("canary pause", "#ffe0b2"),
    "WaitForBudget": ("gate wait", "#f8bbd0"),
}
SAMPLES = 160  # points of the stacked chart: smooth enough at 960 px, and the page stays small
MAX_FAILED_ROWS = 1000  # the failed table's rows; the count above it says how many there are
MAX_RETRIED_ROWS = 50
WIDTH, LEFT, RIGHT = 960, 56, 16
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class Span:
    """One target on the timeline: seconds since the run started; start None: never started (skipped before
    a spoke ran), end None: never finished (pending, lost)."""

    target: str
    status: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Phase:
    kind: str  # a PHASES name: wave, wave pause, canary pause, gate wait
    label: str
    start: float
    end: float
    wave: dict[str, Any] | None = None  # the summary's entry for this wave (its `waves`), when it has one


@dataclass
class Timeline:
    """What the page draws, in seconds since the run started (simulated seconds on the local engine)."""

    length: float
    spans: list[Span]
    phases: list[Phase] = field(default_factory=list)
    stop_at: float | None = None
    scale_note: str = ""

    def counts_at(self, t: float) -> dict[str, int]:
        """How many targets were in each status at `t`."""
        return self._counter()(t)

    def _counter(self) -> Callable[[float], dict[str, int]]:
        ended: dict[str, list[float]] = {s: [] for s in STATUSES}
        starts, started_ends = [], []
        for span in self.spans:
            if span.end is not None:
                ended.setdefault(span.status, []).append(span.end)
            if span.start is not None:
                starts.append(span.start)
                if span.end is not None:
                    started_ends.append(span.end)
        for values in (*ended.values(), starts, started_ends):
            values.sort()
        total = len(self.spans)

        def at(t: float) -> dict[str, int]:
            counts = {s: bisect_right(ended[s], t) for s in STATUSES if s not in ("running", "pending")}
            counts["running"] = bisect_right(starts, t) - bisect_right(started_ends, t)
            counts["pending"] = total - sum(counts.values())
            return counts

        return at

    def concurrency(self) -> list[tuple[float, int]]:
        """(time, spokes running from then on), at every change."""
        changes = sorted(
            [(s.start, 1) for s in self.spans if s.start is not None]
            + [(s.end, -1) for s in self.spans if s.start is not None and s.end is not None]
        )
        steps: list[tuple[float, int]] = [(0.0, 0)]
        running = 0
        for t, delta in changes:
            running += delta
            if steps[-1][0] == t:
                steps[-1] = (t, running)
            else:
                steps.append((t, running))
        return steps

    def peak(self) -> int:
        return max((n for _, n in self.concurrency()), default=0)


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch from a datetime or an ISO 8601 string (AWS writes `Z`, Python `+00:00`)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _reason(row: dict[str, Any]) -> str | None:
    detail = row.get("detail")
    try:
        parsed = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return None
    return str(parsed.get("reason")) if isinstance(parsed, dict) and parsed.get("reason") else None


def build_timeline(summary: dict[str, Any], rows: list[dict[str, Any]], history: list[dict[str, Any]]) -> Timeline:
    """The timeline from the ledger rows (each target's first attempt's start, `started_at`, to its end,
    `updated_at`) and the execution history (waves, pauses, gate waits). On the local engine the clock is
    scaled: real seconds are turned into simulated ones with the run's own ratio, so a wave pause of 60 s
    reads 60 s."""
    times = [_epoch(e.get("timestamp")) for e in history]
    event_times = [t for t in times if t is not None]
    row_times = [t for r in rows for t in (_epoch(r.get("started_at")), _epoch(r.get("updated_at"))) if t]
    origin = min(event_times or row_times or [0.0])
    last = max(event_times + row_times or [origin])
    ratio = clock_ratio(summary, rows)

    def rel(value: Any) -> float | None:
        t = _epoch(value)
        return None if t is None else max(t - origin, 0.0) * ratio

    spans = []
    for row in rows:
        status = str(row.get("status") or "pending")
        start = rel(row.get("started_at")) if status != "skipped" or row.get("attempts") else None
        end = rel(row.get("updated_at")) if status != "pending" else None
        if start is not None and end is not None:
            end = max(end, start)  # RecordFailure's clock (Step Functions') and the spoke's may differ a little
        spans.append(Span(str(row.get("target_id")), status, start, end))
    timeline = Timeline(length=max((last - origin) * ratio, 1e-3), spans=spans, phases=_phases(history, rel))
    timeline.stop_at = _stop_at(summary, rows, timeline, rel)
    waves = [w for w in summary.get("waves") or [] if isinstance(w, dict)]
    at_wave = [i for i, phase in enumerate(timeline.phases) if phase.kind == "wave"]
    for wave, i in zip(waves, at_wave, strict=False):  # the n-th Map state ran the summary's n-th wave
        timeline.phases[i] = replace(timeline.phases[i], wave=wave)
    if summary.get("stopped_by") == "canary" and timeline.phases and timeline.phases[0].kind == "wave":
        timeline.phases[0] = replace(timeline.phases[0], label="wave 1 (canary)")
    if ratio != 1.0:
        timeline.scale_note = f"the local engine's scaled clock: 1 s real is {ratio:.0f} s simulated"
    return timeline


def clock_ratio(summary: dict[str, Any], rows: list[dict[str, Any]]) -> float:
    """Simulated seconds per real second. A local run's summary has both durations. The operator client's
    has real ones only: there the spokes' rows tell, as each measures `duration_ms` on its clock (simulated
    on the local engine, real on AWS) between the wall-clock `started_at` and `updated_at` it writes; only
    spans of 50 ms and more, as the times are written to the millisecond. Near 1 it is 1: real time (AWS)."""
    durations = summary.get("durations") or {}
    real, simulated = float(durations.get("real_seconds") or 0), float(durations.get("simulated_seconds") or 0)
    if not (real > 0 and simulated and abs(simulated / real - 1) > 0.01):
        simulated = real = 0.0
        for row in rows:
            start, end, ms = _epoch(row.get("started_at")), _epoch(row.get("updated_at")), row.get("duration_ms")
            if start is None or end is None or not ms or row.get("status") not in ("succeeded", "unchanged"):
                continue
            if end - start >= MIN_MEASURED_SPAN:
                simulated, real = simulated + float(ms) / 1000, real + end - start
    ratio = simulated / real if simulated and real > 0 else 1.0
    return 1.0 if 0.5 < ratio < 2 else ratio


MIN_MEASURED_SPAN = 0.05


def _phases(history: list[dict[str, Any]], rel: Callable[[Any], float | None]) -> list[Phase]:
    phases: list[Phase] = []
    open_at: dict[str, float | None] = {}
    waves = 0
    for event in history:
        kind = event.get("type", "")
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        name = details.get("name")
        if name not in PHASES:
            continue
        if kind.endswith("StateEntered"):
            open_at[name] = rel(event.get("timestamp"))
            if name == "Spokes":
                waves += 1
        elif kind.endswith("StateExited"):
            start, end = open_at.pop(name, None), rel(event.get("timestamp"))
            if start is not None and end is not None:
                label = PHASES[name][0]
                phases.append(Phase(label, f"{label} {waves}" if name == "Spokes" else label, start, end))
    return phases


def _stop_at(
    summary: dict[str, Any], rows: list[dict[str, Any]], timeline: Timeline, rel: Callable[[Any], float | None]
) -> float | None:
    """When the canary or the circuit breaker stopped the run: its first skip with a reason of its own."""
    stopped_by = summary.get("stopped_by")
    if not stopped_by:
        return None
    word = "canary" if stopped_by == "canary" else "circuit"
    skips = [rel(r.get("updated_at")) for r in rows if r.get("status") == "skipped" and word in (_reason(r) or "")]
    found = [t for t in skips if t is not None]
    if found:
        return min(found)
    waves = [p.end for p in timeline.phases if p.kind == "wave"]
    return waves[0] if waves else None


# -- the page ---------------------------------------------------------------------------------------------


def text(value: object) -> str:
    """Data as page text: control and bidi characters made visible (as the terminal shows them), then escaped."""
    shown = UNSHOWABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))
    return html.escape(shown, quote=True)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _ticks(length: float) -> list[float]:
    rough = length / 8
    magnitude = 10 ** int(f"{rough:e}".split("e")[1])
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    return [i * step for i in range(int(length / step) + 1)]


class _Scale:
    def __init__(self, length: float) -> None:
        self.length = length
        self.inner = WIDTH - LEFT - RIGHT

    def x(self, t: float) -> float:
        return round(LEFT + self.inner * min(max(t, 0.0), self.length) / self.length, 1)


def _axis(scale: _Scale, top: int, height: int) -> str:
    parts = []
    for t in _ticks(scale.length):
        x = scale.x(t)
        parts.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{top + height}" class="grid"/>')
        parts.append(f'<text x="{x}" y="{top + height + 14}" class="tick" text-anchor="middle">{t:g}</text>')
    return "".join(parts)


def _bands(timeline: Timeline, scale: _Scale, top: int, height: int, css: str = "phase") -> str:
    parts = []
    for phase in timeline.phases:
        colour = next(c for k, c in PHASES.values() if k == phase.kind)
        x1, x2 = scale.x(phase.start), scale.x(phase.end)
        title = f"{phase.label}: {_seconds(phase.start)} to {_seconds(phase.end)}" + _wave_note(phase.wave)
        parts.append(
            f'<rect x="{x1}" y="{top}" width="{max(x2 - x1, 1)}" height="{height}" fill="{colour}" '
            f'class="{css}"><title>{text(title)}</title></rect>'
        )
        if css == "phase" and x2 - x1 > 8 * len(phase.label):  # the lane names what fits
            parts.append(f'<text x="{x1 + 4}" y="{top + height - 5}" class="lanelabel">{text(phase.label)}</text>')
    return "".join(parts)


def _wave_note(wave: dict[str, Any] | None) -> str:
    if not wave:
        return ""
    facts = [f"{k.replace('_', ' ')} {wave[k]}" for k in WAVE_FACTS if wave.get(k) is not None]
    return ("; " + ", ".join(facts) if facts else "") + (f" ({wave['reason']})" if wave.get("reason") else "")


WAVE_FACTS = ("targets", "max_concurrency", "peak_concurrency", "failed", "rate_limited")


def _limits(timeline: Timeline) -> list[tuple[Phase, int]]:
    """Each wave's concurrency limit, from the summary's waves (adaptive concurrency changes it wave by wave)."""
    found = []
    for phase in timeline.phases:
        limit = (phase.wave or {}).get("max_concurrency")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            found.append((phase, limit))
    return found


def _stop_line(timeline: Timeline, scale: _Scale, top: int, height: int, label: str) -> str:
    if timeline.stop_at is None:
        return ""
    x = scale.x(timeline.stop_at)
    return (
        f'<line x1="{x}" y1="{top}" x2="{x}" y2="{top + height}" class="stop"/>'
        f'<text x="{x + 4}" y="{top + 26}" class="stoplabel">{text(label)}</text>'
    )


def _stacked(timeline: Timeline, scale: _Scale, stop_label: str) -> str:
    top, height = 30, 220
    total = max(len(timeline.spans), 1)
    at = timeline._counter()
    samples = [timeline.length * i / SAMPLES for i in range(SAMPLES + 1)]
    counts = [at(t) for t in samples]
    layers, below = [], [0] * len(samples)
    for status in STATUSES:
        above = [b + c[status] for b, c in zip(below, counts, strict=True)]
        if any(c[status] for c in counts):
            upper = " ".join(
                f"{scale.x(t)},{top + height - height * v / total:.1f}" for t, v in zip(samples, above, strict=True)
            )
            lower = " ".join(
                f"{scale.x(t)},{top + height - height * v / total:.1f}"
                for t, v in reversed(list(zip(samples, below, strict=True)))
            )
            layers.append(
                f'<polygon points="{upper} {lower}" fill="{COLORS[status]}" class="layer layer-{status}">'
                f"<title>{status}</title></polygon>"
            )
        below = above
    y_labels = (
        f'<text x="{LEFT - 6}" y="{top + 4}" class="tick" text-anchor="end">{total}</text>'
        f'<text x="{LEFT - 6}" y="{top + height}" class="tick" text-anchor="end">0</text>'
    )
    lane = _bands(timeline, scale, 4, 18)
    legend = "".join(
        f'<rect x="{LEFT + 100 * i}" y="{top + height + 24}" width="10" height="10" fill="{COLORS[s]}"/>'
        f'<text x="{LEFT + 100 * i + 14}" y="{top + height + 33}" class="tick">{s}</text>'
        for i, s in enumerate(STATUSES)
    )
    return (
        f'<svg id="chart-status" role="img" aria-label="targets over time by status" width="{WIDTH}" '
        f'height="{top + height + 42}" viewBox="0 0 {WIDTH} {top + height + 42}">'
        f"{lane}{_bands(timeline, scale, top, height, 'phase faint')}"
        f"{''.join(layers)}{_axis(scale, top, height)}{y_labels}{_stop_line(timeline, scale, top, height, stop_label)}"
        f"{legend}</svg>"
    )


def _concurrency(timeline: Timeline, scale: _Scale, stop_label: str) -> str:
    top, height = 10, 120
    steps = timeline.concurrency()
    limits = _limits(timeline)
    peak = max([timeline.peak(), 1] + [limit for _, limit in limits])
    marks = "".join(
        f'<line x1="{scale.x(phase.start)}" x2="{scale.x(phase.end)}" y1="{top + height - height * limit / peak:.1f}" '
        f'y2="{top + height - height * limit / peak:.1f}" class="limit"><title>{text(phase.label)}: '
        f"max concurrency {limit}</title></line>"
        for phase, limit in limits
    )
    points, previous = [], 0
    for t, running in steps:
        x = scale.x(t)
        points.append(f"{x},{top + height - height * previous / peak:.1f}")
        points.append(f"{x},{top + height - height * running / peak:.1f}")
        previous = running
    points.append(f"{scale.x(timeline.length)},{top + height - height * previous / peak:.1f}")
    return (
        f'<svg id="chart-concurrency" role="img" aria-label="spokes running at once" width="{WIDTH}" '
        f'height="{top + height + 22}" viewBox="0 0 {WIDTH} {top + height + 22}">'
        f"{_bands(timeline, scale, top, height, 'phase faint')}"
        f'{marks}<polyline points="{" ".join(points)}" class="running"/>'
        f'<text x="{LEFT - 6}" y="{top + 4}" class="tick" text-anchor="end">{peak}</text>'
        f'<text x="{LEFT - 6}" y="{top + height}" class="tick" text-anchor="end">0</text>'
        f"{_axis(scale, top, height)}{_stop_line(timeline, scale, top, height, stop_label)}</svg>"
    )


def _table(table_id: str, headers: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> str:
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{text(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


COUNTED = ("total", "succeeded", "unchanged", "skipped", "failed", "lost")


def _counts(summary: dict[str, Any], timeline: Timeline) -> str:
    cells = "".join(
        f'<div class="count count-{k}"><span class="n" id="count-{k}">{text(summary.get(k, 0))}</span>'
        f"<span>{k}</span></div>"
        for k in COUNTED
    )
    threshold = summary.get("failure_threshold_percent")
    rate = f"{summary.get('failure_rate', 0.0):.2f} %" + (
        f" (threshold {threshold} %)" if threshold is not None else ""
    )
    facts = [
        ("failure rate", rate),
        ("peak concurrency", f"{timeline.peak()} (from the ledger's start and end times)"),
        ("waves", summary.get("waves_run", 0)),
        ("length", _seconds(timeline.length) + (f", simulated ({timeline.scale_note})" if timeline.scale_note else "")),
    ]
    dl = "".join(f"<dt>{text(k)}</dt><dd>{text(v)}</dd>" for k, v in facts)
    return f'<section class="counts">{cells}</section><dl>{dl}</dl>'


def _stop(summary: dict[str, Any], timeline: Timeline) -> str:
    stopped_by = summary.get("stopped_by")
    parts = []
    if stopped_by:
        when = f" at {_seconds(timeline.stop_at)}" if timeline.stop_at is not None else ""
        said = STOPPED_BY.get(stopped_by, stopped_by)
        parts.append(f'<p class="stopped" id="stopped-by">Stopped{text(when)} by {text(said)}.</p>')
    reasons = summary.get("skipped_by_reason") or {}
    if reasons:
        parts.append(_table("skipped-by-reason", ("skipped because", "targets"), list(reasons.items())))
    return "".join(parts)


def _waves(summary: dict[str, Any], timeline: Timeline) -> str:
    parts = []
    waves = summary.get("waves")
    if isinstance(waves, list) and waves:
        columns = ("index", "targets", "max_concurrency", "peak_concurrency", "failed", "rate_limited", "reason")
        rows = [tuple(w.get(c, "") if isinstance(w, dict) else "" for c in columns) for w in waves]
        parts.append(_table("waves", tuple(c.replace("_", " ") for c in columns), rows))
    if timeline.phases:
        rows_p = [(p.label, _seconds(p.start), _seconds(p.end - p.start)) for p in timeline.phases]
        parts.append(_table("phases", ("phase", "from", "lasted"), rows_p))
    return "".join(parts)


def _waits(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    parts = []
    gate = summary.get("budget_waits") or []
    if gate:
        gate_rows = [
            (w.get("wave"), w.get("wait_seconds"), w.get("remaining"), w.get("needed"), w.get("reason")) for w in gate
        ]
        parts.append(_table("gate-waits", ("wave", "waited (s)", "budget left", "needed", "why"), gate_rows))
    retried = sorted(
        (r for r in rows if int(r.get("attempts") or 0) > 1 or int(r.get("rate_limit_waits") or 0) > 0),
        key=lambda r: str(r.get("target_id")),
    )
    waits = sum(int(r.get("rate_limit_waits") or 0) for r in rows)
    parts.append(
        f'<p id="retries">{len(retried)} target(s) needed more than one attempt (rate limits, transient errors: '
        f"the state machine's Retry); {waits} rate-limit wait(s) for a reset the target named.</p>"
    )
    if retried:
        shown = [
            (r.get("target_id"), r.get("status"), r.get("attempts"), r.get("rate_limit_waits") or 0)
            for r in retried[:MAX_RETRIED_ROWS]
        ]
        parts.append(_table("retried", ("target", "status", "attempts", "rate-limit waits"), shown))
    return "".join(parts)


def _failed(summary: dict[str, Any]) -> str:
    failed = summary.get("failed_targets") or []
    if not failed:
        return '<p id="no-failures">No target failed.</p>'
    rows = [
        (f.get("id"), f.get("error"), f.get("attempts"), readable(f.get("cause"))) for f in failed[:MAX_FAILED_ROWS]
    ]
    more = f"<p>... and {len(failed) - MAX_FAILED_ROWS} more.</p>" if len(failed) > MAX_FAILED_ROWS else ""
    return _table("failed-targets", ("target", "error", "attempts", "cause"), rows) + more


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212121;max-width:1000px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.outcome-succeeded{color:#2e7d32}.outcome-failed{color:#c62828}
.counts{display:flex;gap:12px;margin:12px 0}
.count{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:70px;text-align:center}
.count .n{display:block;font-size:22px;font-weight:600}
.count-failed .n{color:#c62828}.count-succeeded .n{color:#2e7d32}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}td{overflow-wrap:anywhere;max-width:520px}th{background:#f5f5f5}
svg{display:block;margin:4px 0}.grid{stroke:#eee}.tick{font-size:11px;fill:#616161}
.phase.faint{opacity:.35}.lanelabel{font-size:10px;fill:#424242}
.limit{stroke:#616161;stroke-width:1.5;stroke-dasharray:2 3}.running{fill:none;stroke:#1565c0;stroke-width:1.5}
.stop{stroke:#c62828;stroke-width:2;stroke-dasharray:5 3}
.stoplabel{font-size:12px;fill:#c62828;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}
.stopped{color:#c62828;font-weight:600}.note{color:#616161;font-size:12px}
"""


def render_html(summary: dict[str, Any], rows: list[dict[str, Any]], timeline: Timeline) -> str:
    """The page: one string, nothing outside it."""
    scale = _Scale(timeline.length)
    stopped_by = summary.get("stopped_by")
    stop_label = {"canary": "canary stopped the run", "circuit_breaker": "circuit breaker opened"}.get(
        stopped_by or "", str(stopped_by or "")
    )
    outcome = str(summary.get("outcome", ""))
    run_id = text(summary.get("run_id", ""))
    legend = " ".join(
        f'<span style="background:{colour};padding:0 6px">{text(kind)}</span>' for kind, colour in PHASES.values()
    )
    axis_note = "x: seconds since the run started" + (
        f", simulated ({timeline.scale_note})" if timeline.scale_note else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>HubSpoke run {run_id}</title><style>{STYLE}</style></head>
<body>
<h1>Run <span id="run-id">{run_id}</span>:
<span id="outcome" class="outcome-{text(outcome)}">{text(outcome.upper())}</span></h1>
<div class="note">operation {text(summary.get("operation") or "-")}, status {text(summary.get("status") or "-")}</div>
{_counts(summary, timeline)}
{_stop(summary, timeline)}
<h2>Targets over time, by status</h2>
<div class="note">Top lane: the run's phases {legend}. {text(axis_note)}.</div>
{_stacked(timeline, scale, stop_label)}
<h2>Spokes running at once</h2>
{_concurrency(timeline, scale, stop_label)}
<h2>Waves and pauses</h2>
{_waves(summary, timeline) or "<p>One wave, no pause.</p>"}
<h2>Gate and rate-limit waits</h2>
{_waits(summary, rows)}
<h2>Failed targets ({len(summary.get("failed_targets") or [])})</h2>
{_failed(summary)}
</body></html>
"""


def write_report(
    path: Path, summary: dict[str, Any], rows: list[dict[str, Any]], history: list[dict[str, Any]]
) -> Path:
    """Write the run's page to `path`; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(summary, rows, build_timeline(summary, rows, history)), encoding="utf-8")
    return path
