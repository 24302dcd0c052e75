"""GitHubServer: the simulated world served on 127.0.0.1, with controls and inspection for tests and demos.

    with GitHubServer(org_world("acme", 75), time_scale=0.01) as gh:
        client = make_client(base_url=gh.url)

`time_scale` is real seconds per simulated second (like HUBSPOKE_TIME_SCALE): at 0.01 a simulated second lasts 10 ms.
Tests whose outcome must not depend on the machine's speed pass a `ManualClock` instead: the server's time then moves
only when the test (or a client sleeping on the same clock) advances it.
"""

from __future__ import annotations

import email.utils
import hmac
import json
import re
import threading
from collections.abc import Callable, Iterable
from email.message import Message
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devtools.github import routes, shapes
from devtools.github.clock import Clock, ScaledClock
from devtools.github.errors import DOCS_URL, MSG_BAD_CREDENTIALS, MSG_BAD_JSON, ApiError
from devtools.github.http import Loopback
from devtools.github.model import RecordedRequest, Repo, RepoSpec, sha1
from devtools.github.ratelimit import WRITE_METHODS, RateLimiter
from devtools.github.site import Response

API_VERSION = "2022-11-28"
_REPO_PATH_RE = re.compile(r"^/repos/([^/]+)/([^/]+)")


class GitHubServer:
    """A GitHub REST API for a simulated world of repositories, on 127.0.0.1, in a daemon thread."""

    def __init__(
        self,
        repos: Iterable[RepoSpec] = (),
        *,
        token: str | None = None,
        rate_limit: int = 5000,
        rate_window_seconds: int = 3600,
        secondary_share: float = 0.0,
        retry_after_seconds: int = 60,
        seed: int = 0,
        latency_ms: int = 0,
        time_scale: float = 1.0,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self._token = token
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        self.limiter = RateLimiter(
            self.now(),
            limit=rate_limit,
            window_seconds=rate_window_seconds,
            secondary_share=secondary_share,
            retry_after_seconds=retry_after_seconds,
            seed=seed,
        )
        self._latency_ms = latency_ms
        self._loopback = Loopback(host, port)
        self.world: dict[str, Repo] = {}  # keyed by lower-case full name: GitHub's names are case-insensitive
        self._requests: list[RecordedRequest] = []
        self._hooks: list[tuple[str, str, Callable[[], object]]] = []
        self._request_count = 0
        for spec in repos:
            self.add_repo(spec)

    # ---- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (after start(); kept after stop() for the JSON helpers)."""
        return self._loopback.url

    def start(self) -> GitHubServer:
        """Bind and serve in a daemon thread; returns self."""
        self._loopback.start(self)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self._loopback.stop()

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- control and inspection (for tests and demos) ---------------------------------------------------------

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.clock.now()

    def add_repo(self, spec: RepoSpec) -> None:
        """Add (or replace) a repository; its files become the first commit on its default branch."""
        repo = Repo.create(spec)
        with self._lock:
            self.world[spec.full_name.lower()] = repo

    def configure(self, *, latency_ms: int | None = None, **limits: Any) -> None:
        """Change behaviour while running: latency_ms, and RateLimiter.configure's secondary_share,
        retry_after_seconds, rate_limit, rate_remaining, reset_in_seconds, server_errors (that many next
        requests answer 502, as GitHub does now and then)."""
        with self._lock:
            self.limiter.configure(self.now(), **limits)
            if latency_ms is not None:
                self._latency_ms = max(0, latency_ms)

    def before(self, method: str, path: str, action: Callable[[], object]) -> None:
        """Run `action` once, just before the next `method path` request is answered (e.g. a concurrent writer
        that gets there first). It runs in that request's thread, outside the lock, so it may call the server."""
        with self._lock:
            self._hooks.append((method, path, action))

    def merge(self, repo: str, number: int, method: str = "merge") -> str:
        """Merge pull request #number as a person would on GitHub (merge, squash or rebase); the new base head."""
        with self._lock:
            r = self._known(repo)
            pull = next((p for p in r.pulls if p.number == number), None)
            if pull is None:
                raise KeyError(f"no pull request #{number} in {repo}")
            return r.merge(pull, method, self.now())

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def repo_names(self) -> list[str]:
        """Every repository's full name, sorted."""
        with self._lock:
            return sorted(r.spec.full_name for r in self.world.values())

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        """The repository's pull requests as the API returns them, by number (KeyError if unknown)."""
        with self._lock:
            r = self._known(repo)
            return [shapes.pull_json(self.url, r, p) for p in r.pulls]

    def pulls_created(self, repo: str) -> int:
        """How many POST .../pulls were answered 201 for the repository (KeyError if unknown)."""
        with self._lock:
            return self._known(repo).pulls_created

    def file(self, repo: str, branch: str, path: str) -> str | None:
        """A file's text on a branch, or None when the repository, branch or file does not exist."""
        with self._lock:
            r = self.world.get(repo.lower())
            if r is None or branch not in r.heads:
                return None
            data = r.commits[r.heads[branch]].get(path)
            return None if data is None else data.decode(errors="replace")

    def branches(self, repo: str) -> dict[str, str]:
        """Branch -> head commit sha (KeyError if the repository is unknown)."""
        with self._lock:
            return dict(self._known(repo).heads)

    def rate_limit_state(self) -> dict[str, int]:
        """The current core window: limit, remaining, reset (epoch seconds) and used."""
        with self._lock:
            self.limiter.roll(self.now())
            return self.limiter.core()

    def _known(self, repo: str) -> Repo:
        r = self.world.get(repo.lower())
        if r is None:
            raise KeyError(f"no repository {repo!r}")
        return r

    # ---- request plumbing (called by the HTTP handler) ---------------------------------------------------------

    def delay(self) -> None:
        """The request's latency, outside the lock, so slow requests overlap as they would on the real service."""
        if self._latency_ms > 0:
            self.clock.sleep(self._latency_ms / 1000)

    def run_hooks(self, method: str, path: str) -> None:
        """Run (and forget) the `before` actions due for this request."""
        with self._lock:
            due = [hook for hook in self._hooks if (hook[0], hook[1]) == (method, unquote(path))]
            self._hooks = [hook for hook in self._hooks if hook not in due]
        for _, _, action in due:
            action()

    def handle(
        self, method: str, raw_path: str, headers: Message, raw_body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, start to finish, under the lock: auth, rate limits, routing, recording."""
        split = urlsplit(raw_path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        repo_match = _REPO_PATH_RE.match(path)
        with self._lock:
            now = self.now()
            self._request_count += 1
            digest = sha1(f"{self._request_count}".encode()).upper()
            rid = f"{digest[:4]}:{digest[4:9]}:{self._request_count:X}:{digest[9:16]}:{int(now):X}"
            self.limiter.roll(now)
            extra: dict[str, str] = {}
            try:
                status, body, extra = self._respond(method, path, query, headers, raw_body, rid)
            except ApiError as fail:
                status, body, extra = fail.status, fail.body(), fail.headers
            except Exception:  # a bug here must not kill the connection thread silently
                status, body = 500, {"message": "Server Error", "documentation_url": DOCS_URL, "status": "500"}
            repo = f"{repo_match[1]}/{repo_match[2]}" if repo_match else None
            self._requests.append(RecordedRequest(method, path, query, status, repo, now, reset=self.limiter.reset))
            out = {
                "content-type": "application/json; charset=utf-8",
                "date": email.utils.formatdate(now, usegmt=True),
                "x-github-api-version-selected": API_VERSION,
                **self.limiter.headers(),
                "x-github-request-id": rid,
                **extra,
            }
        return status, out, json.dumps(body).encode()

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: Message, raw_body: bytes, rid: str
    ) -> Response:
        if not self._authorized(headers):
            raise ApiError(401, MSG_BAD_CREDENTIALS)  # no identity, so nothing is charged to the core window
        self.limiter.charge(method, path, rid)
        body: Any = None
        if method in WRITE_METHODS:
            try:
                body = json.loads(raw_body) if raw_body.strip() else {}
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, MSG_BAD_JSON) from None
        return routes.route(self, method, path, query, body)

    def _authorized(self, headers: Message) -> bool:
        if self._token is None:
            return True
        scheme, _, credential = (headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() not in ("token", "bearer"):  # the two schemes gidgethub sends
            return False
        return hmac.compare_digest(credential.strip().encode(), self._token.encode())
