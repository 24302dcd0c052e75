"""A dry run's plan for people (a Rich table) and programs (JSON), read from the execution's output or S3."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

PLANNED = "planned"  # the execution output's outcome of a dry run (lambdas/hub/plan.py)
USAGE_ROWS = (
    ("state_transitions", "Step Functions state transitions"),
    ("lambda_requests", "Lambda requests"),
    ("lambda_gb_seconds", "Lambda GB-seconds"),
    ("dynamodb_write_units", "DynamoDB write request units"),
    ("dynamodb_read_units", "DynamoDB read request units"),
    ("s3_puts", "S3 PUT requests"),
    ("s3_gets", "S3 GET requests"),
)


class NotAPlanError(ValueError):
    """The execution's output is not a plan (a real run's, or a run that failed)."""


def plan_from_output(output: str | dict[str, Any] | None) -> dict[str, Any]:
    """The plan in a dry run's execution output (DescribeExecution `output`)."""
    data = json.loads(output) if isinstance(output, str) else output
    if not isinstance(data, dict) or data.get("outcome") != PLANNED or not isinstance(data.get("plan"), dict):
        raise NotAPlanError("the execution's output holds no plan (was it started with dry_run?)")
    plan: dict[str, Any] = data["plan"]
    return plan


def read_plan(s3: Any, bucket: str, run_id: str) -> dict[str, Any]:
    """The plan the hub wrote to S3 for `run_id`."""
    plan: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=f"plans/{run_id}.json")["Body"].read())
    return plan


def plan_json_text(plan: dict[str, Any]) -> str:
    return json.dumps(plan, indent=2) + "\n"


def render_plan(console: Console, plan: dict[str, Any]) -> None:
    """The plan table, then the estimate's breakdown."""
    console.print(_plan_table(plan))
    console.print(_cost_table(plan["cost"]))
    console.print(f"[dim]not counted: {plan['cost']['not_counted']}[/]")


def _plan_table(plan: dict[str, Any]) -> Table:
    table = Table(title=f"Plan {plan['run_id']}: [cyan]PLANNED[/] (nothing ran)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    waves = plan["waves"]
    shown = plan["first_targets"]
    rows: list[tuple[str, str]] = [
        ("operation", plan["operation"]),
        ("source", plan["source"]),
        ("targets", f"{plan['count']:,}"),
        ("waves", f"{waves['count']} of up to {waves['size']:,} ({waves['pause_seconds']} s apart)"),
        ("max concurrency", _concurrency(plan)),
        ("failure threshold", f"{plan['failure_threshold_percent']} %"),
        ("first targets", ", ".join(shown) + (" ..." if plan["count"] > len(shown) else "")),
    ]
    budget = plan.get("api_budget")
    if budget:
        rows.append(
            (
                "API requests",
                f"{budget['requests']:,} ({budget['requests_per_target']} per target, "
                f"largest wave {budget['largest_wave_requests']:,})",
            )
        )
    rows.append(("estimated AWS cost", f"${plan['cost']['usd']['total']:.4f}"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _concurrency(plan: dict[str, Any]) -> str:
    """The run's concurrency, and the ceiling it shares with every other run at the time."""
    ceiling = plan.get("max_total_concurrency")
    if ceiling is None:
        return f"{plan['max_concurrency']} (no ceiling for all runs together)"
    return (
        f"{plan['max_concurrency']} (all runs together at most {ceiling:,}: beyond that, spokes wait "
        "throttled and retried)"
    )


def _cost_table(cost: dict[str, Any]) -> Table:
    table = Table(
        title=(
            f"Estimated AWS cost ({cost['region']} prices of {cost['prices_as_of']}, free tiers ignored; "
            f"{cost['memory_mb']} MB, {cost['spoke_seconds']} s a spoke)"
        )
    )
    table.add_column("what the run uses")
    table.add_column("count / USD", justify="right")
    for key, label in USAGE_ROWS:
        value = cost["usage"][key]
        table.add_row(label, f"{value:,.1f}" if key == "lambda_gb_seconds" else f"{int(value):,}")
    table.add_section()
    for service, usd in cost["usd"].items():
        table.add_row(f"[bold]{service.replace('_', ' ')}[/]", f"${usd:.6f}")
    return table


def refusal(error: str | None, cause: str | None) -> str:
    """One line for a dry run the workflow refused: the error and the message a person can act on."""
    try:
        data = json.loads(cause or "")
    except ValueError:
        data = None
    message = data.get("errorMessage", cause) if isinstance(data, dict) else cause
    return f"{error}: {message}"
