"""The HTTP side of the local doubles: a threading server on loopback, in a daemon thread, handing every request
to an app's `handle(method, path, headers, body) -> (status, headers, payload)`."""

from __future__ import annotations

import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast


class App(Protocol):
    def handle(
        self, method: str, raw_path: str, headers: Message, raw_body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One request's answer: status, headers, body."""


class HTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its app."""

    daemon_threads = True
    request_queue_size = 128  # many clients connect at once; the default backlog of 5 would drop SYNs
    app: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response are normal under load; stay quiet about them.
        return


class RequestHandler(BaseHTTPRequestHandler):
    """Reads the body, lets the app answer, writes the answer. A double's own handler may act before the app
    answers (`before`) and read the answer's headers first (`answered`)."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections
    # Headers and body go out in separate writes; with Nagle on, each response would wait for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def before(self, app: Any) -> None:
        """Called before the app answers (the request is read)."""

    def answered(self, headers: dict[str, str]) -> None:
        """Called with the answer's headers before they are sent."""

    def _serve(self) -> None:
        app = cast(HTTPServer, self.server).app
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        except (OSError, ValueError):
            self.close_connection = True
            return
        self.before(app)
        status, headers, payload = app.handle(self.command, self.path, self.headers, body)
        self.answered(headers)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server dispatches on these names


class Loopback:
    """Where the app listens: bind, serve in a daemon thread, stop; the URL outlives stop() for the JSON helpers."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        handler: type[RequestHandler] = RequestHandler,
        name: str = "double",
    ) -> None:
        self._host, self._port, self._handler, self._name = host, port, handler, name
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the server has not been started")
        return self._url

    def start(self, app: App) -> None:
        if self._httpd is not None:
            return
        httpd = HTTPServer((self._host, self._port), self._handler)
        httpd.app = app
        host, port = httpd.server_address[:2]
        self._url, self._httpd = f"http://{host!s}:{port}", httpd
        # A short poll interval: stop() waits for the serving loop to notice, and tests stop many servers.
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None
