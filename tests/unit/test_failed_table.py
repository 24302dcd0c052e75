"""The failed-targets table shows each target's whole id, however narrow the terminal."""

from __future__ import annotations

from rich.console import Console

from hubspoke.report import _render_failed


def first_column(text: str) -> list[str]:
    """The first cell of every body line of the table."""
    return [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]


def test_a_long_cross_account_id_is_shown_whole_in_80_columns() -> None:
    console = Console(width=80, record=True, color_system=None)
    target = "310987654321/eu-west-1/prod-catalog"
    cause = "task arn:aws:ecs:eu-west-1:310987654321:task/prod-catalog/0123456789abcdef on prod-catalog: exit code 3"
    _render_failed(console, [{"id": target, "error": "TargetError", "attempts": 1, "cause": cause}])
    text = console.export_text()
    assert "…" not in text
    assert "".join(first_column(text)) == target
