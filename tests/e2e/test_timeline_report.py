"""The HTML timeline of real engine runs, opened in headless Chromium (Debian's, installed by `make setup`): it
loads with no console error, no page error and no request but the file itself, and shows the run's counts, its
stop point and its failed targets as text, hostile ids included (issue 14)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools import headless
from devtools.headless import CHROMIUM, Loaded, browser, loaded
from hubspoke.cli import app

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    # Never skipped: a skipped browser test would hide a missing install step on a fresh machine.
    assert Path(CHROMIUM).exists(), f"no {CHROMIUM}: `make setup` installs Debian's chromium package"


CANARY_FAILS = ["target-0002", "target-0004", "target-0006", "target-0008"]
SCRIPT_ID = "<script>window.pwned = 1</script>"
IMG_ID = "<img src=x onerror=\"fetch('http://198.51.100.7/')\">"


def _check_clean(seen: Loaded, page: Path) -> None:
    assert seen.console_errors == []
    assert seen.page_errors == []
    assert seen.requests == [page.resolve().as_uri()]


def _cells(seen: Loaded, table: str) -> list[list[str]]:
    rows = seen.page.locator(f"#{table} tbody tr")
    return [[cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]


def _count(seen: Loaded, name: str) -> str:
    return str(seen.page.inner_text(f"#count-{name}"))


def test_the_canary_run_writes_its_timeline_and_it_shows_the_stop_in_chromium(cli, tmp_path):
    # GIVEN a run of 120 targets with a canary of 10, 4 of which fail (the demo's canary)
    result = cli(
        "--targets",
        "120",
        "--canary",
        "10",
        "--failure-threshold",
        "5",
        "--params-json",
        json.dumps({"fail_ids": CANARY_FAILS}),
        "--run-id",
        "canary",
        "--summary-json",
        "canary.json",
    )
    assert result.exit_code == 1, result.output
    # THEN the run wrote its page next to its logs, and said where
    page = tmp_path / "home" / "runs" / "canary" / "report.html"
    assert page.is_file()
    assert f"Timeline: {page}" in " ".join(result.output.split())
    # AND the page loads clean in Chromium and shows the counts: 6 succeeded, 4 failed, 110 skipped of 120
    with browser() as chromium, loaded(chromium, page) as seen:
        _check_clean(seen, page)
        counts = {name: _count(seen, name) for name in ("total", "succeeded", "skipped", "failed", "lost")}
        assert counts == {"total": "120", "succeeded": "6", "skipped": "110", "failed": "4", "lost": "0"}
        assert "the canary" in seen.page.inner_text("#stopped-by")
        assert _cells(seen, "skipped-by-reason") == [["canary failed", "110"]]
        # AND the stop point is marked on both charts, and the canary wave in the phases
        assert seen.page.locator("#chart-status line.stop").count() == 1
        assert seen.page.locator("#chart-concurrency line.stop").count() == 1
        assert [row[0] for row in _cells(seen, "phases")] == ["wave 1 (canary)"]
        # AND the failed table lists the 4 canary failures with their error and cause
        failed = _cells(seen, "failed-targets")
        assert [row[0] for row in failed] == CANARY_FAILS
        assert all(row[1] == "TargetError" and row[3] == f"injected permanent failure for {row[0]}" for row in failed)
    # AND make demo's screenshot of it (from the run's summary JSON) is a full-page PNG, 1040 px wide
    assert headless.main(["--summary", "canary.json", "shot.png"]) == 0
    png = (tmp_path / "shot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width == 1040
    assert height > 900  # the whole page, not the viewport


def test_failures_rate_limits_and_waves_with_hostile_ids_through_report_html(cli, tmp_path):
    # GIVEN 20 targets in 2 waves of 10 with a pause, two of them with hostile ids that fail, and two rate-limited
    ids = [SCRIPT_ID, IMG_ID] + [f"t{i:02d}" for i in range(18)]
    (tmp_path / "t.json").write_text(json.dumps([{"id": i} for i in ids]))
    params = {"fail_ids": [SCRIPT_ID, IMG_ID], "rate_limit_ids": ["t03", "t12"], "rate_limit_times": 1}
    result = cli(
        "--targets-file",
        "t.json",
        "--wave-size",
        "10",
        "--wave-pause",
        "30",
        "--max-concurrency",
        "3",
        "--failure-threshold",
        "50",
        "--params-json",
        json.dumps(params),
        "--run-id",
        "mixed",
    )
    assert result.exit_code == 0, result.output
    # WHEN a later command renders the kept run's page (the operator client on the embedded engine)
    page = tmp_path / "mixed.html"
    reported = CliRunner().invoke(app, ["report", "mixed", "--html", str(page)])
    assert reported.exit_code == 0, reported.output
    html = page.read_text()
    # THEN no hostile id is in the page as markup
    assert "<script>" not in html
    assert "<img" not in html
    with browser() as chromium, loaded(chromium, page) as seen:
        # AND it loads clean: the ids' script never ran, their image never asked for anything
        _check_clean(seen, page)
        assert seen.page.evaluate("typeof window.pwned") == "undefined"
        counts = {name: _count(seen, name) for name in ("total", "succeeded", "skipped", "failed", "lost")}
        assert counts == {"total": "20", "succeeded": "18", "skipped": "0", "failed": "2", "lost": "0"}
        # AND the failed table shows the hostile ids as text, each with its error
        failed = _cells(seen, "failed-targets")
        assert sorted(row[0] for row in failed) == sorted([SCRIPT_ID, IMG_ID])
        assert all(row[1] == "TargetError" and row[3] == f"injected permanent failure for {row[0]}" for row in failed)
        # AND the two waves and the pause between them, and the two rate-limited targets retried once each
        assert [row[0] for row in _cells(seen, "phases")] == ["wave 1", "wave pause", "wave 2"]
        assert _cells(seen, "retried") == [["t03", "succeeded", "2", "0"], ["t12", "succeeded", "2", "0"]]
        assert seen.page.locator("#stopped-by").count() == 0


def test_hubspoke_run_on_the_embedded_engine_writes_the_page_next_to_its_logs(cli, tmp_path):
    # GIVEN the operator command `run` (no --stack: the embedded engine) of 3 targets, one failing
    source = {"type": "static", "targets": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    ran = CliRunner().invoke(
        app,
        ["run", "--source-json", json.dumps(source), "--params-json", '{"fail_ids": ["b"]}', "--run-id", "viarun"],
    )
    assert ran.exit_code == 1, ran.output
    # THEN its page is next to its logs, and shows 3 targets, 2 succeeded, 1 failed
    page = tmp_path / "home" / "runs" / "viarun" / "report.html"
    assert (page.parent / "lambda.log").is_file()
    with browser() as chromium, loaded(chromium, page) as seen:
        _check_clean(seen, page)
        counts = {name: _count(seen, name) for name in ("total", "succeeded", "failed")}
        assert counts == {"total": "3", "succeeded": "2", "failed": "1"}
        assert [row[0] for row in _cells(seen, "failed-targets")] == ["b"]
