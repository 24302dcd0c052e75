"""Hostile target ids and attributes through the CLI and a whole local run (issue #16, item 5): nothing reaches a
shell, a file path or the terminal unescaped, and a file the CLI cannot read is one error line, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli_cold, one_error_line  # noqa: F401 - cli_cold is a fixture

pytestmark = pytest.mark.e2e

HOSTILE = [
    "$(touch pwned)",
    "`touch pwned2`; rm -rf ~ #",
    "a && echo owned > owned.txt",
    "../../../../tmp/escaped",
    "..\\..\\escaped",
    "/etc/passwd",
    "[/x]",
    "[link=http://evil]web[/link]",
    "w\u0435b",  # Cyrillic e
    "web",
    "x" * 256,
]


def test_hostile_ids_run_as_data_and_stay_out_of_paths_and_the_terminal(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no id is folded across table lines
    # GIVEN a targets file of hostile ids, each one failing (so each is printed with its cause in the report)
    (tmp_path / "t.json").write_text(json.dumps([{"id": i, "note": "\x1b[2J\x1b]0;owned\x07"} for i in HOSTILE]))
    params = {"fail_ids": HOSTILE}
    result = cli(
        "--targets-file",
        "t.json",
        "--params-json",
        json.dumps(params),
        "--run-id",
        "hostile",
        "--summary-json",
        "s.json",
    )
    # THEN the run ran every target as data: all 11 failed as injected, none lost, each id stored exactly
    assert result.exit_code == 1, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["total"], summary["failed"], summary["lost"]) == (11, 11, 0)
    assert sorted(f["id"] for f in summary["failed_targets"]) == sorted(HOSTILE)
    # AND no shell ran them: nothing was created here or in /tmp
    assert not any((tmp_path / n).exists() for n in ("pwned", "pwned2", "owned.txt", "escaped"))
    assert not Path("/tmp/escaped").exists()
    # AND the kept run's files are named after the run, never after a target
    kept = sorted(str(p.relative_to(tmp_path / "home")) for p in (tmp_path / "home" / "runs").rglob("*"))
    assert all(k.startswith("runs/hostile") for k in kept), kept
    assert not any(t in k for k in kept for t in ("pwned", "escaped", "passwd", "link="))
    # AND the terminal shows each id as it is: no markup read from it, no escape sequence from the data
    output = " ".join(result.output.split())
    for target_id in ("[/x]", "[link=http://evil]web[/link]", "$(touch pwned)", "w\u0435b"):
        assert target_id in output
    assert "\x1b" not in result.output


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("deep.json", "[" * 1000 + "]" * 1000, "--targets-file: deep.json nests too deeply to read"),
        (
            "attr.json",
            '[{"id": "a", "deep": ' + "[" * 900 + "]" * 900 + "}]",
            "--targets-file: attr.json: [0].deep: nests deeper than 32 levels",
        ),
        (
            "long.csv",
            "id,team\na," + "x" * 131_073 + "\n",
            "--targets-file: long.csv is not readable CSV (after line 1",
        ),
    ],
)
def test_a_targets_file_too_deep_or_too_long_is_one_error_line(cli_cold, tmp_path, name, body, message):  # noqa: F811
    (tmp_path / name).write_text(body)
    result, output, home = cli_cold("local", "run", "--quiet", "--targets-file", name)
    one_error_line(result)
    assert message in output
    assert home == []  # refused before anything was synthesized or run


def test_params_nesting_1000_deep_is_one_error_line(cli_cold):  # noqa: F811
    result, output, home = cli_cold(
        "local", "run", "--quiet", "--targets", "2", "--params-json", "[" * 1000 + "]" * 1000
    )
    one_error_line(result)
    assert "--params-json: nests too deeply to read" in output
    assert home == []
