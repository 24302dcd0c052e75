"""Data from targets, sources and AWS reaches the terminal as text: never as Rich markup, never as escape sequences
(issue #16, item 5). A target id `[/x]` stopped `hubspoke report` with a MarkupError; `[link=...]` disguised an id;
ESC sequences in a cause reached the terminal raw."""

from __future__ import annotations

import io

import pytest
import typer
from rich.console import Console

from hubspoke import console as console_module
from hubspoke.console import bad_input, shown
from hubspoke.report import _render_failed, _render_notes

HOSTILE_IDS = ["a[/b]", "[/]", "[link=http://evil]web[/link]", "[bold red]x", "$(touch pwned)", "../../etc/passwd"]


def rendered(render, *args) -> str:
    out = io.StringIO()
    render(Console(file=out, force_terminal=True, color_system="truecolor", width=300), *args)
    return out.getvalue()


@pytest.mark.parametrize("target_id", HOSTILE_IDS)
def test_a_failed_target_id_is_shown_exactly_as_it_is(target_id):
    text = rendered(_render_failed, [{"id": target_id, "error": "TargetError", "attempts": 1, "cause": "no"}])
    assert target_id in text
    assert "\x1b]8;" not in text  # no hyperlink was made of it


def test_escape_sequences_in_a_cause_are_shown_not_acted_on():
    cause = "boom \x1b[2J\x1b]0;owned\x07 \x9b31m \u202eexe"
    text = rendered(_render_failed, [{"id": "t1", "error": "TargetError", "attempts": 1, "cause": cause}])
    for raw in ("\x1b[2J", "\x1b]0;", "\x07", "\x9b", "\u202e"):
        assert raw not in text
    assert "\\x1b[2J\\x1b]0;owned\\x07 \\x9b31m \\u202eexe" in text


def test_notes_and_the_run_error_are_shown_as_data():
    summary = {"notes": {"skipped": ["[/]c/s (DRAINING)", "\x1b[31mred"]}, "error": "States.Runtime", "cause": "[/x]"}
    text = rendered(_render_notes, summary)
    assert "[/]c/s (DRAINING)" in text
    assert "\\x1b[31mred" in text
    assert "States.Runtime\x1b[0m: [/x]" in text  # styled by us, the cause as it is


def test_a_refusal_naming_a_hostile_id_is_one_error_line(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(console_module, "err_console", Console(file=out, width=300))
    with pytest.raises(typer.Exit):
        raise bad_input("source.targets: duplicate target ids: '[/x]'")
    assert out.getvalue() == "error: source.targets: duplicate target ids: '[/x]'\n"


def test_shown_keeps_ordinary_text_and_lookalikes_as_they_are():
    assert shown("w\u0435b/api-1").plain == "w\u0435b/api-1"  # a lookalike is data; the hub refuses none of it
    assert shown("tab\there").plain == "tab\\there"
