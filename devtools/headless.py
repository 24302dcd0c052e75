"""Debian's Chromium (/usr/bin/chromium, installed by `make setup`), driven headless with Playwright: loads a page
from a file, records what a person would never see (console errors, page errors, every request it made) and
takes screenshots. Used by the HTML report's browser test and by `make demo`'s screenshot.

Playwright never downloads a browser here (`playwright install` needs the network): it drives the system's.

    python devtools/headless.py PAGE.html SHOT.png      # a full-page screenshot; exit 1 on a console error
    python devtools/headless.py --summary SUMMARY.json SHOT.png   # the report of a local run's summary
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI runs as root, where Chromium's sandbox refuses to start. The rest keep it from calling anyone.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's 30 s default is a guess about machine speed; a busy CI machine (make test-under-load) may start
# Chromium slower. A page that never loads still fails, after this.
TIMEOUT_MS = 180_000


@dataclass
class Loaded:
    """A page loaded from a file, and what happened while it loaded."""

    page: Any  # playwright.sync_api.Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, the file itself included


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (playwright.sync_api.Browser); closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=TIMEOUT_MS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def loaded(chromium: Any, path: Path, width: int = 1040) -> Iterator[Loaded]:
    """Open `path` (file://) in a new page of `chromium`; the page is closed afterwards."""
    page = chromium.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    seen = Loaded(page)
    page.on("console", lambda msg: seen.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    page.on("request", lambda request: seen.requests.append(request.url))
    try:
        page.goto(path.resolve().as_uri(), wait_until="load")
        yield seen
    finally:
        page.close()


def screenshot(html: Path, png: Path) -> Loaded:
    """A full-page screenshot of `html`; returns what happened while it loaded (the page closed)."""
    with browser() as chromium, loaded(chromium, html) as seen:
        seen.page.screenshot(path=str(png), full_page=True)
    return seen


def _report_of(summary_json: Path) -> Path:
    """The HTML report a local run wrote next to its logs (the run id from its summary JSON)."""
    run_id = str(json.loads(summary_json.read_text())["run_id"])
    return Path(os.environ.get("HUBSPOKE_HOME", ".hubspoke")) / "runs" / run_id / "report.html"


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--summary":
        html, png = _report_of(Path(argv[1])), Path(argv[2])
    elif len(argv) == 2:
        html, png = Path(argv[0]), Path(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    seen = screenshot(html, png)
    problems = seen.console_errors + seen.page_errors + [u for u in seen.requests if u != html.resolve().as_uri()]
    for problem in problems:
        print(f"{html}: {problem}", file=sys.stderr)
    print(f"screenshot of {html}: {png}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
