"""The GitHub double's HTTP side: devtools/http.py's loopback server, with GitHub's headers and the simulated Date."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import urlsplit

from devtools import http


class RequestHandler(http.RequestHandler):
    """Applies the double's latency and test hooks first, answers as GitHub.com with the simulated clock's Date."""

    _date = ""

    def version_string(self) -> str:
        return "GitHub.com"

    def date_time_string(self, timestamp: float | None = None) -> str:
        # send_response() adds Date itself; make it the simulated clock's.
        return self._date or super().date_time_string(timestamp)

    def before(self, app: Any) -> None:
        app.delay()
        app.run_hooks(self.command, urlsplit(self.path).path)

    def answered(self, headers: dict[str, str]) -> None:
        self._date = headers.pop("date")


Loopback = partial(http.Loopback, handler=RequestHandler, name="github-double")
