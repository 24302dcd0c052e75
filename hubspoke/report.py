"""The run summary for people (a Rich table) and programs (JSON), from the engine's result and the ledger."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hubspoke.alarms import AlarmState
from hubspoke.console import labelled, shown
from hubspoke.engine import RunResult

MAX_FAILED_SHOWN = 25


def _readable(cause: str | None) -> str | None:
    """Lambda error causes are JSON with an errorMessage; that message is what a person needs."""
    if not cause:
        return cause
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    return str(data.get("errorMessage", cause)) if isinstance(data, dict) else cause


readable = _readable  # the HTML timeline (hubspoke/timeline.py) shows causes as the table does


def build_summary(result: RunResult, ledger: list[dict[str, Any]], time_scale: float) -> dict[str, Any]:
    """One JSON-ready summary: the report's counts plus what only the engine knows (concurrency, clocks)."""
    report = result.summary or {}
    # Services the hub found but skipped (inactive) have no ledger row; they are still part of the run.
    discovery_skipped = len((report.get("notes") or {}).get("skipped") or [])
    outcome = report.get("outcome") or ("succeeded" if result.status == "SUCCEEDED" else "failed")
    if result.status != "SUCCEEDED" and result.error != "RunFailed":
        outcome = "failed"  # the workflow itself failed (hub error, timeout): whatever counts exist
    return {
        "run_id": result.run_id,
        "execution_arn": result.execution_arn,
        "status": result.status,
        "outcome": outcome,
        "error": result.error,
        "cause": _readable(result.cause),
        "operation": report.get("operation"),
        "total": report.get("total", 0) + discovery_skipped,
        "succeeded": report.get("succeeded", 0),
        "unchanged": report.get("unchanged", 0),
        "skipped": report.get("skipped", 0) + discovery_skipped,
        "failed": report.get("failed", 0),
        "lost": report.get("lost", 0),
        "failure_rate": report.get("failure_rate", 0.0),
        "failure_threshold_percent": report.get("failure_threshold_percent"),
        "failures_by_error": report.get("failures_by_error", {}),
        "failed_targets": [
            {"id": f["id"], "error": f["error"], "cause": f["cause"], "attempts": f["attempts"]}
            for f in report.get("failed_targets", [])
        ],
        "attempts": {
            row["target_id"]: max(int(row.get("attempts", 0)), 1 if row["status"] != "pending" else 0) for row in ledger
        },
        "peak_concurrency": result.peak_concurrency,
        "durations": {
            "real_seconds": round(result.real_seconds, 3),
            "simulated_seconds": round(result.simulated_seconds, 3),
            "time_scale": time_scale,
            "spoke_simulated_ms": report.get("durations"),
        },
        "spoke_invocations": result.spoke_invocations,
        "report": report.get("report"),
        "notes": report.get("notes", {}),
        "waves_run": report.get("waves_run", 0),
        # index, targets, max_concurrency, peak_concurrency, failed, rate_limited, reason (summarize/waves.py)
        "waves": report.get("waves", []),
        "stopped_by": report.get("stopped_by"),
        "skipped_by_reason": report.get("skipped_by_reason", {}),
    }


def budget_waits(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each time the rate-limit gate held a wave back: the WaitForBudget states of the execution history."""
    waits = []
    for event in history:
        details = event.get("stateEnteredEventDetails") or {}
        if event.get("type") == "WaitStateEntered" and details.get("name") == "WaitForBudget":
            wave = json.loads(details.get("input") or "{}").get("wave", {})
            budget = wave.get("budget", {})
            waits.append(
                {
                    "wave": wave.get("index", 0) + 1,  # counted from 1, as a person (and the table) counts
                    "wait_seconds": wave.get("wait_seconds"),
                    "remaining": budget.get("remaining"),
                    "needed": budget.get("needed"),
                    "reason": budget.get("reason", ""),
                }
            )
    return waits


def render_summary(console: Console, summary: dict[str, Any]) -> None:
    """The summary table, then the notes, alarms and failed targets."""
    console.print(_counts_table(summary))
    _render_waves(console, summary.get("waves") or [])
    _render_stop(console, summary)
    _render_notes(console, summary)
    _render_alarms(console, summary.get("alarms") or [])
    _render_failed(console, summary["failed_targets"])


def _counts_table(summary: dict[str, Any]) -> Table:
    ok = summary["outcome"] == "succeeded"
    table = Table(
        title=f"Run {summary['run_id']}: [{'green' if ok else 'red'}]{summary['outcome'].upper()}[/]", show_header=False
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("total", summary["total"]),
        ("succeeded", summary["succeeded"]),
        ("unchanged", summary["unchanged"]),
        ("skipped", summary["skipped"]),
        ("failed", summary["failed"]),
        ("lost", summary["lost"]),
        (
            "failure rate",
            f"{summary['failure_rate']:.2f} % (threshold {summary['failure_threshold_percent']} %)"
            if summary["failure_threshold_percent"] is not None
            else "-",
        ),
        ("peak concurrency", summary["peak_concurrency"]),
        ("waves", summary["waves_run"]),
        (
            "duration",
            f"{summary['durations']['simulated_seconds']:.1f} s simulated, "
            f"{summary['durations']['real_seconds']:.2f} s real",
        ),
    ]
    spoke = summary["durations"]["spoke_simulated_ms"]
    if spoke and spoke.get("count"):
        rows.append(("spoke p50 / p90 / max", f"{spoke['p50_ms']} / {spoke['p90_ms']} / {spoke['max_ms']} ms"))
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _render_waves(console: Console, waves: list[dict[str, Any]]) -> None:
    """Each wave's concurrency, peak, failures and rate limits, when the run had more than one; one line each
    (soft-wrapped: a reason is never cut in two)."""
    if len(waves) < 2:
        return
    for wave in waves:
        line = Text.assemble(
            f"{wave['targets']} targets at concurrency {wave['max_concurrency']} (peak {wave['peak_concurrency']}), "
            f"{wave['failed']} failed, {wave['rate_limited']} rate-limited",
            *(("; ", shown(wave["reason"])) if wave.get("reason") else ()),
        )
        # counted from 1, as budget waits are
        console.print(labelled(f"wave {wave['index'] + 1}:", "dim", line), soft_wrap=True)


STOPPED_BY = {
    "canary": "the canary: its failure rate was over the threshold, so no other target was touched",
    "circuit_breaker": "the circuit breaker: spokes that had not started skipped their targets",
}


def _render_stop(console: Console, summary: dict[str, Any]) -> None:
    """What stopped the run before every target ran, and why targets were skipped."""
    stopped_by = summary.get("stopped_by")
    if stopped_by:
        console.print(labelled("stopped by", "bold red", STOPPED_BY.get(stopped_by, stopped_by)))
    for reason, count in (summary.get("skipped_by_reason") or {}).items():
        console.print(labelled("skipped:", "dim", f"{count} ({reason})"))


def _render_notes(console: Console, summary: dict[str, Any]) -> None:
    for key, value in (summary.get("notes") or {}).items():
        if key != "source":
            console.print(labelled(f"{key}:", "dim", ", ".join(map(str, value)) if isinstance(value, list) else value))
    for wait in summary.get("budget_waits") or []:
        console.print(labelled(f"rate-limit gate, wave {wait['wave']}:", "dim", wait["reason"]))
    if summary["error"] and summary["error"] != "RunFailed":
        console.print(Text.assemble(shown(summary["error"], "bold red"), ": ", shown(summary["cause"])))


def _render_alarms(console: Console, alarms: list[dict[str, Any]]) -> None:
    if alarms:
        firing = [a for a in alarms if a["state"] == "ALARM"]
        console.print(f"[bold]Alarms this run would fire:[/] {len(firing)} of {len(alarms)}")
        for alarm in alarms:
            style = "bold red" if alarm["state"] == "ALARM" else "green"
            console.print(f"  [{style}]{AlarmState(**alarm).describe()}[/]")


def _render_failed(console: Console, failed: list[dict[str, Any]]) -> None:
    if failed:
        ft = Table(title=f"Failed targets ({len(failed)})")
        # Ids and causes wrap instead of ending in "…": in 80 columns a cross-account id
        # (account/region/cluster) would lose the cluster, the part that says which target it is.
        for col in ("target", "error", "attempts", "cause"):
            ft.add_column(col, overflow="fold")
        for f in failed[:MAX_FAILED_SHOWN]:
            ft.add_row(shown(f["id"]), shown(f["error"]), str(f["attempts"]), shown(f["cause"]))
        console.print(ft)
        if len(failed) > MAX_FAILED_SHOWN:
            console.print(f"... and {len(failed) - MAX_FAILED_SHOWN} more (see --summary-json)")
