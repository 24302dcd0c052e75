"""A local GitHub-compatible REST server for demos and tests (standard library only, loopback).

It answers the calls a GitHub client makes to change many repositories: list an owner's repositories (Link-header
pagination), read a repository, read/create branch refs, read/create/update file contents, list/open/merge pull
requests, add labels and read the rate limit, with GitHub's paths, status codes, headers and error bodies. It also plays
GitHub's primary (`core`) and secondary rate limits on a simulated clock, so clients' back-off logic can be exercised
in milliseconds:

    with GitHubServer(org_world("acme", 75), time_scale=0.01) as gh:
        client = make_client(base_url=gh.url)

`time_scale` is real seconds per simulated second (like HUBSPOKE_TIME_SCALE): at 0.01 a simulated second lasts 10 ms.
Tests whose outcome must not depend on the machine's speed pass a `ManualClock` instead: the server's time then moves
only when the test (or a client sleeping on the same clock) advances it.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import fnmatch
import hashlib
import hmac
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

DOCS_URL = "https://docs.github.com/rest"
API_VERSION = "2022-11-28"
USER_LOGIN = "local-user"  # the login the token belongs to; GitHub's rate-limit message names user ID 1

MSG_NOT_FOUND = "Not Found"
MSG_BAD_CREDENTIALS = "Bad credentials"
MSG_BAD_JSON = "Problems parsing JSON"
MSG_INVALID = "Invalid request."
MSG_ARCHIVED = "Repository was archived so is read-only."
MSG_NO_PUSH = "Resource not accessible by personal access token"
MSG_REF_EXISTS = "Reference already exists"
MSG_NO_OBJECT = "Object does not exist"
MSG_RULES_CREATE = "Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n"
MSG_RULES_UPDATE = "Repository rule violations found\n\nChanges must be made through a pull request.\n\n"
MSG_SHA_MISSING = 'Invalid request.\n\n"sha" wasn\'t supplied.'
MSG_VALIDATION = "Validation Failed"
MSG_MERGED = "Pull Request successfully merged"
MSG_NOT_MERGEABLE = "Pull Request is not mergeable"
MSG_HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
MERGE_METHODS = ("merge", "squash", "rebase")
MSG_PRIMARY = (
    "API rate limit exceeded for user ID 1. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)
MSG_SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_REPO_PATH_RE = re.compile(r"^/repos/([^/]+)/([^/]+)")


class Clock(Protocol):
    """The server's time: epoch seconds now, and a sleep on the same clock (request latency)."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class ScaledClock:
    """Real time, sped up: `time_scale` real seconds per simulated second, starting at the real epoch."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self._epoch0, self._mono0 = time.time(), time.monotonic()

    def now(self) -> float:
        return self._epoch0 + (time.monotonic() - self._mono0) / self.time_scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds * self.time_scale)


class ManualClock:
    """A clock that moves only when told (thread-safe): `sleep` and `advance` add to it, nothing else does.

    Give the same clock to the server and to the client's sleep, and a client waiting for a reset "sleeps" it
    away in no real time, however slow or busy the machine is.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now += seconds

    sleep = advance


@dataclass
class RepoSpec:
    """One repository of the simulated world."""

    full_name: str
    default_branch: str = "main"
    archived: bool = False
    fork: bool = False
    private: bool = False
    topics: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)  # fnmatch patterns of protected branch names
    can_push: bool = True  # the token's push permission on this repository
    files: dict[str, str] = field(default_factory=dict)  # initial text files on the default branch


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (never its headers, so never a token)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    repo: str | None  # "owner/name" when the path is under /repos/{owner}/{name}
    at: float  # simulated epoch seconds
    # The core window's reset (epoch seconds) in the answer's x-ratelimit-reset: when a refused client may send again.
    reset: int = field(default=0, compare=False)


class _ApiError(Exception):
    """An error response: raised anywhere in a handler, turned into GitHub's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(documentation_url=DOCS_URL, status=str(self.status))
        return body


@dataclass
class _Pull:
    number: int
    id: int
    title: str
    body: str | None
    draft: bool
    head: str
    base: str
    head_sha: str  # at creation; rendering uses the branch's current head while it exists
    base_sha: str
    created_at: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    merged_at: str | None = None
    merge_commit_sha: str | None = None


@dataclass
class _Repo:
    spec: RepoSpec
    id: int
    heads: dict[str, str]  # branch -> commit sha
    commits: dict[str, dict[str, bytes]]  # commit sha -> the whole tree at that commit (path -> data)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)  # commit sha -> its parents' shas
    pulls: list[_Pull] = field(default_factory=list)
    pulls_created: int = 0

    @property
    def owner(self) -> str:
        return self.spec.full_name.split("/", 1)[0]

    def protected(self, branch: str) -> bool:
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in self.spec.protected)

    def commit(self, parents: tuple[str, ...], tree: dict[str, bytes], salt: str) -> str:
        """Record a commit with this tree on top of `parents`; its sha."""
        sha = _sha1("\0".join((*parents, salt, *(f"{p}\0{blob_sha(d)}" for p, d in sorted(tree.items())))).encode())
        self.commits[sha], self.parents[sha] = tree, parents
        return sha

    def history(self, sha: str) -> set[str]:
        """The commit and every commit it descends from (what `git rev-list` walks)."""
        seen: set[str] = set()
        todo = [sha]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.parents.get(current, ()))
        return seen


_Response = tuple[int, Any, dict[str, str]]
_Handler = Callable[["GitHubServer", re.Match[str], dict[str, str], Any], _Response]


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def blob_sha(data: bytes) -> str:
    """Git's blob id, as `git hash-object` computes it."""
    return _sha1(b"blob %d\0" % len(data) + data)


def _stable_id(*parts: str) -> int:
    """A positive id that depends only on its parts, so ids survive restarts and reordering."""
    return int(_sha1("\0".join(parts).encode())[:8], 16) % 900_000_000 + 100_000_000


def _node_id(kind: str, number: int) -> str:
    # GitHub's legacy global node ids are base64 of "<len>:<Type><id>".
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def _b64_lines(data: bytes) -> str:
    """Base64 with a newline after every 60 characters, as the contents API returns it."""
    text = base64.b64encode(data).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _check_spec(spec: RepoSpec) -> None:
    owner, _, name = spec.full_name.partition("/")
    if not (_NAME_RE.fullmatch(owner) and _NAME_RE.fullmatch(name)):
        raise ValueError(f"full_name: {spec.full_name!r} is not 'owner/name'")
    if not spec.default_branch:
        raise ValueError("default_branch: must not be empty")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connect at once; the default backlog of 5 would drop SYNs
    app: GitHubServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response are normal under load; stay quiet about them.
        return


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections
    # Headers and body go out in separate writes; with Nagle on, each response would wait for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    _date = ""

    def version_string(self) -> str:
        return "GitHub.com"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        # send_response() adds Date itself; make it the simulated clock's.
        return self._date or super().date_time_string(timestamp)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        app = cast(_HTTPServer, self.server).app
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        app._delay()
        app._run_hooks(self.command, urlsplit(self.path).path)
        status, headers, payload = app._handle(self.command, self.path, self.headers, body)
        self._date = headers.pop("date")
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
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if not 0.0 <= secondary_share <= 1.0:
            raise ValueError("secondary_share must be between 0 and 1")
        if rate_limit < 0 or rate_window_seconds <= 0:
            raise ValueError("rate_limit must be >= 0 and rate_window_seconds > 0")
        self._lock = threading.RLock()
        self._token = token
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        self._limit, self._remaining = rate_limit, rate_limit
        self._window = rate_window_seconds
        self._reset = math.ceil(self.now()) + rate_window_seconds
        self._secondary_share = secondary_share
        self._retry_after = retry_after_seconds
        self._server_errors = 0
        self._latency_ms = latency_ms
        self._rng = random.Random(seed)
        self._host, self._port = host, port
        self._repos: dict[str, _Repo] = {}  # keyed by lower-case full name: GitHub's names are case-insensitive
        self._requests: list[RecordedRequest] = []
        self._hooks: list[tuple[str, str, Callable[[], object]]] = []
        self._request_count = 0
        self._httpd: _HTTPServer | None = None
        self._url: str | None = None
        self._thread: threading.Thread | None = None
        for spec in repos:
            self.add_repo(spec)

    # ---- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (after start(); kept after stop() for the JSON helpers)."""
        if self._url is None:
            raise RuntimeError("the server has not been started")
        return self._url

    def start(self) -> GitHubServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _RequestHandler)
        httpd.app = self
        host, port = httpd.server_address[:2]
        self._url = f"http://{host!s}:{port}"
        self._httpd = httpd
        # A short poll interval: stop() waits for the serving loop to notice, and tests stop many servers.
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="github-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

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
        _check_spec(spec)
        tree = {path: text.encode() for path, text in spec.files.items()}
        change = "\0".join(f"{path}\0{blob_sha(data)}" for path, data in sorted(tree.items()))
        root = _sha1(f"{spec.full_name}\0initial\0{change}".encode())
        repo = _Repo(
            spec=spec,
            id=_stable_id(spec.full_name),
            heads={spec.default_branch: root},
            commits={root: tree},
            parents={root: ()},
        )
        with self._lock:
            self._repos[spec.full_name.lower()] = repo

    def configure(
        self,
        *,
        secondary_share: float | None = None,
        retry_after_seconds: int | None = None,
        rate_limit: int | None = None,
        rate_remaining: int | None = None,
        reset_in_seconds: float | None = None,
        latency_ms: int | None = None,
        server_errors: int | None = None,
    ) -> None:
        """Change behaviour while running; rate_remaining and reset_in_seconds set the current window;
        server_errors answers that many next requests with 502, as GitHub does now and then."""
        if secondary_share is not None and not 0.0 <= secondary_share <= 1.0:
            raise ValueError("secondary_share must be between 0 and 1")
        with self._lock:
            self._roll_window(self.now())
            if secondary_share is not None:
                self._secondary_share = secondary_share
            if retry_after_seconds is not None:
                self._retry_after = retry_after_seconds
            if rate_limit is not None:
                self._limit = max(0, rate_limit)
                self._remaining = min(self._remaining, self._limit)
            if rate_remaining is not None:
                self._remaining = max(0, min(rate_remaining, self._limit))
            if reset_in_seconds is not None:
                self._reset = math.ceil(self.now() + reset_in_seconds)
            if latency_ms is not None:
                self._latency_ms = max(0, latency_ms)
            if server_errors is not None:
                self._server_errors = max(0, server_errors)

    def before(self, method: str, path: str, action: Callable[[], object]) -> None:
        """Run `action` once, just before the next `method path` request is answered (e.g. a concurrent writer
        that gets there first). It runs in that request's thread, outside the lock, so it may call the server."""
        with self._lock:
            self._hooks.append((method, path, action))

    def _run_hooks(self, method: str, path: str) -> None:
        with self._lock:
            due = [hook for hook in self._hooks if (hook[0], hook[1]) == (method, unquote(path))]
            self._hooks = [hook for hook in self._hooks if hook not in due]
        for _, _, action in due:
            action()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def repo_names(self) -> list[str]:
        """Every repository's full name, sorted."""
        with self._lock:
            return sorted(r.spec.full_name for r in self._repos.values())

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        """The repository's pull requests as the API returns them, by number (KeyError if unknown)."""
        with self._lock:
            r = self._known(repo)
            return [self._pull_json(r, p) for p in r.pulls]

    def pulls_created(self, repo: str) -> int:
        """How many POST .../pulls were answered 201 for the repository (KeyError if unknown)."""
        with self._lock:
            return self._known(repo).pulls_created

    def file(self, repo: str, branch: str, path: str) -> str | None:
        """A file's text on a branch, or None when the repository, branch or file does not exist."""
        with self._lock:
            r = self._repos.get(repo.lower())
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
            self._roll_window(self.now())
            return self._core()

    # ---- request plumbing --------------------------------------------------------------------------------------

    def _known(self, repo: str) -> _Repo:
        r = self._repos.get(repo.lower())
        if r is None:
            raise KeyError(f"no repository {repo!r}")
        return r

    def _delay(self) -> None:
        # Outside the lock, so slow requests overlap as they would on the real service.
        if self._latency_ms > 0:
            self.clock.sleep(self._latency_ms / 1000)

    def _roll_window(self, now: float) -> None:
        if now >= self._reset:
            self._remaining = self._limit
            self._reset = math.ceil(now) + self._window

    def _core(self) -> dict[str, int]:
        return {
            "limit": self._limit,
            "remaining": self._remaining,
            "reset": self._reset,
            "used": self._limit - self._remaining,
        }

    def _authorized(self, headers: Message) -> bool:
        if self._token is None:
            return True
        scheme, _, credential = (headers.get("Authorization") or "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "basic":
            # Basic auth carries the token as the password ("user:token").
            try:
                credential = base64.b64decode(credential).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return False
        elif scheme.lower() not in ("token", "bearer"):
            return False
        return hmac.compare_digest(credential.encode(), self._token.encode())

    def _handle(
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
            rid = self._request_id(now)
            self._roll_window(now)
            extra: dict[str, str] = {}
            try:
                status, body, extra = self._respond(method, path, query, headers, raw_body, rid)
            except _ApiError as fail:
                status, body, extra = fail.status, fail.body(), fail.headers
            except Exception:  # a bug here must not kill the connection thread silently
                status, body = 500, {"message": "Server Error", "documentation_url": DOCS_URL, "status": "500"}
            self._requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=query,
                    status=status,
                    repo=f"{repo_match[1]}/{repo_match[2]}" if repo_match else None,
                    at=now,
                    reset=self._reset,
                )
            )
            core = self._core()
            out = {
                "content-type": "application/json; charset=utf-8",
                "date": email.utils.formatdate(now, usegmt=True),
                "x-github-api-version-selected": API_VERSION,
                "x-ratelimit-limit": str(core["limit"]),
                "x-ratelimit-remaining": str(core["remaining"]),
                "x-ratelimit-reset": str(core["reset"]),
                "x-ratelimit-used": str(core["used"]),
                "x-ratelimit-resource": "core",
                "x-github-request-id": rid,
                **extra,
            }
        return status, out, json.dumps(body).encode()

    def _request_id(self, now: float) -> str:
        n = self._request_count
        digest = _sha1(f"{n}".encode()).upper()
        return f"{digest[:4]}:{digest[4:9]}:{n:X}:{digest[9:16]}:{int(now):X}"

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: Message, raw_body: bytes, rid: str
    ) -> _Response:
        if not self._authorized(headers):
            # No identity, so nothing is charged to the token's core window.
            raise _ApiError(401, MSG_BAD_CREDENTIALS)
        if self._server_errors > 0:
            self._server_errors -= 1
            raise _ApiError(502, "Server Error")
        if not (method == "GET" and path == "/rate_limit"):
            if self._remaining <= 0:
                raise _ApiError(403, MSG_PRIMARY.format(rid=rid))
            self._remaining -= 1
            # One draw per write, in arrival order, so a seed gives the same pattern for the same request order.
            if method in WRITE_METHODS and self._rng.random() < self._secondary_share:
                raise _ApiError(403, MSG_SECONDARY.format(rid=rid), headers={"retry-after": str(self._retry_after)})
        body: Any = None
        if method in WRITE_METHODS:
            try:
                body = json.loads(raw_body) if raw_body.strip() else {}
            except (ValueError, UnicodeDecodeError):
                raise _ApiError(400, MSG_BAD_JSON) from None
        for pattern, handlers in _ROUTES:
            m = pattern.fullmatch(path)
            if m is not None:
                handler = handlers.get(method)
                if handler is None:
                    break  # GitHub answers an unsupported method on a known path with 404
                return handler(self, m, query, body)
        raise _ApiError(404, MSG_NOT_FOUND)

    # ---- JSON shapes -----------------------------------------------------------------------------------------

    def _repo(self, m: re.Match[str]) -> _Repo:
        r = self._repos.get(f"{m['owner']}/{m['repo']}".lower())
        if r is None:
            raise _ApiError(404, MSG_NOT_FOUND)
        return r

    @staticmethod
    def _writable(r: _Repo) -> None:
        if r.spec.archived:
            raise _ApiError(403, MSG_ARCHIVED)
        if not r.spec.can_push:
            raise _ApiError(403, MSG_NO_PUSH)

    def _repo_json(self, r: _Repo) -> dict[str, Any]:
        spec, base = r.spec, self.url
        name = spec.full_name.split("/", 1)[1]
        return {
            "id": r.id,
            "node_id": _node_id("Repository", r.id),
            "name": name,
            "full_name": spec.full_name,
            "owner": {"login": r.owner, "id": _stable_id(r.owner), "type": "Organization"},
            "private": spec.private,
            "fork": spec.fork,
            "archived": spec.archived,
            "disabled": False,
            "default_branch": spec.default_branch,
            "topics": list(spec.topics),
            "visibility": "private" if spec.private else "public",
            "html_url": f"{base}/{spec.full_name}",
            "url": f"{base}/repos/{spec.full_name}",
            "description": None,
            "permissions": {"admin": False, "maintain": False, "push": spec.can_push, "triage": True, "pull": True},
        }

    def _ref_json(self, r: _Repo, branch: str) -> dict[str, Any]:
        api = f"{self.url}/repos/{r.spec.full_name}"
        sha = r.heads[branch]
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": "REF_" + base64.b64encode(f"{r.id}:refs/heads/{branch}".encode()).decode().rstrip("="),
            "url": f"{api}/git/refs/heads/{branch}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
        }

    def _content_json(self, r: _Repo, ref: str, path: str, data: bytes) -> dict[str, Any]:
        api = f"{self.url}/repos/{r.spec.full_name}"
        sha = blob_sha(data)
        return {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": len(data),
            "url": f"{api}/contents/{path}?{urlencode({'ref': ref})}",
            "html_url": f"{self.url}/{r.spec.full_name}/blob/{ref}/{path}",
            "git_url": f"{api}/git/blobs/{sha}",
            "download_url": None,
        }

    def _pull_json(self, r: _Repo, p: _Pull) -> dict[str, Any]:
        full = r.spec.full_name
        api = f"{self.url}/repos/{full}"

        def side(branch: str, sha: str) -> dict[str, Any]:
            return {"label": f"{r.owner}:{branch}", "ref": branch, "sha": r.heads.get(branch, sha)}

        return {
            "id": p.id,
            "node_id": _node_id("PullRequest", p.id),
            "number": p.number,
            "state": p.state,
            "locked": False,
            "title": p.title,
            "body": p.body,
            "draft": p.draft,
            "merged": p.merged_at is not None,
            "merged_at": p.merged_at,
            "merge_commit_sha": p.merge_commit_sha,
            "user": {"login": USER_LOGIN, "id": 1, "type": "User"},
            "html_url": f"{self.url}/{full}/pull/{p.number}",
            "url": f"{api}/pulls/{p.number}",
            "issue_url": f"{api}/issues/{p.number}",
            "created_at": p.created_at,
            "updated_at": p.created_at,
            "closed_at": p.merged_at,
            "head": side(p.head, p.head_sha),
            "base": side(p.base, p.base_sha),
            "labels": [self._label_json(name) for name in p.labels],
        }

    @staticmethod
    def _label_json(name: str) -> dict[str, Any]:
        label_id = _stable_id("label", name)
        return {
            "id": label_id,
            "node_id": _node_id("Label", label_id),
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def _paginate(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of items and its Link header (absolute URLs; omitted when everything fits on one page)."""

        def number(name: str, default: int) -> int:
            try:
                value = int(query.get(name, default))
            except ValueError:
                return default
            return value if value >= 1 else default

        per_page = min(number("per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        page = number("page", 1)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        if last == 1 and page == 1:
            return chunk, {}

        def link(to: int, rel: str) -> str:
            return f'<{self.url}{path}?{urlencode({**query, "per_page": per_page, "page": to})}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        return chunk, {"link": ", ".join(links)}

    # ---- endpoints -------------------------------------------------------------------------------------------

    def _get_rate_limit(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        now = math.ceil(self.now())
        core = {**self._core(), "resource": "core"}

        def fixed(resource: str, limit: int, window: int) -> dict[str, Any]:
            return {"limit": limit, "remaining": limit, "reset": now + window, "used": 0, "resource": resource}

        resources = {
            "core": core,
            "search": fixed("search", 30, 60),
            "graphql": fixed("graphql", 5000, 3600),
            "code_search": fixed("code_search", 10, 60),
        }
        return 200, {"resources": resources, "rate": dict(core)}, {}

    def _get_user(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        return 200, {"login": USER_LOGIN, "id": 1, "node_id": _node_id("User", 1), "type": "User"}, {}

    def _list_repos(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        owner = m["owner"].lower()
        repos = sorted(
            (r for r in self._repos.values() if r.owner.lower() == owner), key=lambda r: r.spec.full_name.lower()
        )
        if not repos:
            raise _ApiError(404, MSG_NOT_FOUND)
        page, link = self._paginate(m.group(0), query, repos)
        return 200, [self._repo_json(r) for r in page], link

    def _get_repo(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        return 200, self._repo_json(self._repo(m)), {}

    def _get_ref(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        if m["branch"] not in r.heads:
            raise _ApiError(404, MSG_NOT_FOUND)
        return 200, self._ref_json(r, m["branch"]), {}

    def _match_refs(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        # The older refs/ endpoint: the exact ref if it exists, else every ref starting with the prefix.
        r = self._repo(m)
        prefix = m["branch"]
        if prefix in r.heads:
            return 200, self._ref_json(r, prefix), {}
        found = [self._ref_json(r, b) for b in sorted(r.heads) if b.startswith(prefix)]
        if not found:
            raise _ApiError(404, MSG_NOT_FOUND)
        return 200, found, {}

    def _create_ref(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        self._writable(r)
        ref, sha = (body.get("ref"), body.get("sha")) if isinstance(body, dict) else (None, None)
        if not (isinstance(ref, str) and isinstance(sha, str) and ref.startswith("refs/heads/")):
            raise _ApiError(422, MSG_INVALID)
        branch = ref.removeprefix("refs/heads/")
        if not _valid_branch(branch):
            raise _ApiError(422, MSG_INVALID)
        if branch in r.heads:
            raise _ApiError(422, MSG_REF_EXISTS)
        if r.protected(branch):
            raise _ApiError(422, MSG_RULES_CREATE)
        if sha not in r.commits:
            raise _ApiError(422, MSG_NO_OBJECT)
        r.heads[branch] = sha
        out = self._ref_json(r, branch)
        return 201, out, {"location": out["url"]}

    def _list_branches(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        page, link = self._paginate(m.group(0), query, sorted(r.heads))
        return 200, [self._branch_json(r, b) for b in page], link

    def _get_branch(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        if m["branch"] not in r.heads:
            raise _ApiError(404, "Branch not found")
        return 200, self._branch_json(r, m["branch"]), {}

    def _branch_json(self, r: _Repo, branch: str) -> dict[str, Any]:
        sha = r.heads[branch]
        url = f"{self.url}/repos/{r.spec.full_name}/commits/{sha}"
        return {"name": branch, "commit": {"sha": sha, "url": url}, "protected": r.protected(branch)}

    def _get_contents(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        ref = query.get("ref") or r.spec.default_branch
        # A ref may name a branch or a commit.
        sha = r.heads.get(ref, ref if ref in r.commits else None)
        if sha is None:
            raise _ApiError(404, MSG_NOT_FOUND)
        tree, path = r.commits[sha], (m["path"] or "").strip("/")
        if path in tree:
            data = tree[path]
            return (
                200,
                {**self._content_json(r, ref, path, data), "encoding": "base64", "content": _b64_lines(data)},
                {},
            )
        # A directory: its immediate children, as GitHub lists them.
        prefix = f"{path}/" if path else ""
        children: dict[str, dict[str, Any]] = {}
        for file_path, data in sorted(tree.items()):
            if not file_path.startswith(prefix):
                continue
            name, _, rest = file_path[len(prefix) :].partition("/")
            if rest:
                dir_path = prefix + name
                children.setdefault(name, {"type": "dir", "name": name, "path": dir_path, "size": 0})
            else:
                children[name] = self._content_json(r, ref, file_path, data)
        if not children:
            raise _ApiError(404, MSG_NOT_FOUND)
        for entry in children.values():
            entry.setdefault("sha", _sha1(f"tree\0{sha}\0{entry['path']}".encode()))
        return 200, list(children.values()), {}

    def _put_contents(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        self._writable(r)
        path = (m["path"] or "").strip("/")
        if not isinstance(body, dict):
            raise _ApiError(422, MSG_INVALID)
        message, content = body.get("message"), body.get("content")
        branch, given_sha = body.get("branch", r.spec.default_branch), body.get("sha")
        if not (path and isinstance(message, str) and message and isinstance(content, str) and isinstance(branch, str)):
            raise _ApiError(422, MSG_INVALID)
        if given_sha is not None and not isinstance(given_sha, str):
            raise _ApiError(422, MSG_INVALID)
        try:
            data = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _ApiError(422, MSG_INVALID) from None
        if branch not in r.heads:
            raise _ApiError(404, f"Branch {branch} not found")
        if r.protected(branch):
            raise _ApiError(409, MSG_RULES_UPDATE)
        parent = r.heads[branch]
        tree = r.commits[parent]
        existing = tree.get(path)
        if existing is not None and not given_sha:
            raise _ApiError(422, MSG_SHA_MISSING)
        if given_sha and (existing is None or blob_sha(existing) != given_sha):
            raise _ApiError(409, f"{path} does not match {given_sha}")
        commit = r.commit((parent,), {**tree, path: data}, f"{path}\0{message}")
        r.heads[branch] = commit
        api = f"{self.url}/repos/{r.spec.full_name}"
        stamp = {"name": USER_LOGIN, "email": f"{USER_LOGIN}@users.noreply.github.com", "date": _iso(self.now())}
        out = {
            "content": self._content_json(r, branch, path, data),
            "commit": {
                "sha": commit,
                "node_id": "C_" + base64.b64encode(commit.encode()).decode().rstrip("="),
                "url": f"{api}/git/commits/{commit}",
                "html_url": f"{self.url}/{r.spec.full_name}/commit/{commit}",
                "message": message,
                "author": stamp,
                "committer": stamp,
                "parents": [{"sha": parent, "url": f"{api}/git/commits/{parent}"}],
            },
        }
        return (200 if existing is not None else 201), out, {}

    def _list_pulls(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _ApiError(422, MSG_VALIDATION, errors=[{"resource": "Issue", "field": "state", "code": "invalid"}])
        pulls = [p for p in r.pulls if state in ("all", p.state)]
        if "head" in query:
            owner, _, branch = query["head"].rpartition(":")
            if owner and owner.lower() != r.owner.lower():
                pulls = []
            pulls = [p for p in pulls if p.head == branch]
        if "base" in query:
            pulls = [p for p in pulls if p.base == query["base"]]
        # GitHub's default order: newest first.
        ascending = query.get("direction") == "asc"
        pulls.sort(key=lambda p: p.number, reverse=not ascending)
        page, link = self._paginate(m.group(0), query, pulls)
        return 200, [self._pull_json(r, p) for p in page], link

    def _get_pull(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        return 200, self._pull_json(*self._find_pull(m)), {}

    def _find_pull(self, m: re.Match[str]) -> tuple[_Repo, _Pull]:
        r = self._repo(m)
        number = int(m["number"])
        for p in r.pulls:
            if p.number == number:
                return r, p
        raise _ApiError(404, MSG_NOT_FOUND)

    def _create_pull(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r = self._repo(m)
        self._writable(r)
        if not isinstance(body, dict):
            raise _ApiError(422, MSG_INVALID)
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        text, draft = body.get("body"), body.get("draft", False)
        if not all(isinstance(v, str) and v for v in (title, head, base)):
            raise _ApiError(422, MSG_INVALID)
        if not (text is None or isinstance(text, str)) or not isinstance(draft, bool):
            raise _ApiError(422, MSG_INVALID)
        title, head, base = str(title), str(head), str(base)
        head_owner, _, head_branch = head.rpartition(":")
        errors = []
        if (head_owner and head_owner.lower() != r.owner.lower()) or head_branch not in r.heads:
            errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if base not in r.heads:
            errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if errors:
            raise _ApiError(422, MSG_VALIDATION, errors=errors)
        if any(p.state == "open" and p.head == head_branch and p.base == base for p in r.pulls):
            message = f"A pull request already exists for {r.owner}:{head_branch}."
            raise _ApiError(
                422, MSG_VALIDATION, errors=[{"resource": "PullRequest", "code": "custom", "message": message}]
            )
        head_sha, base_sha = r.heads[head_branch], r.heads[base]
        # Git's answer, not the trees': after a squash merge the head's commits are not on the base, so GitHub opens
        # a pull request even when every file is the same on both.
        if head_sha in r.history(base_sha):
            message = f"No commits between {base} and {head_branch}"
            raise _ApiError(
                422, MSG_VALIDATION, errors=[{"resource": "PullRequest", "code": "custom", "message": message}]
            )
        number = len(r.pulls) + 1
        pull = _Pull(
            number=number,
            id=_stable_id(r.spec.full_name, "pull", str(number)),
            title=title,
            body=text,
            draft=draft,
            head=head_branch,
            base=base,
            head_sha=head_sha,
            base_sha=base_sha,
            created_at=_iso(self.now()),
        )
        r.pulls.append(pull)
        r.pulls_created += 1
        out = self._pull_json(r, pull)
        return 201, out, {"location": out["url"]}

    def _merge_pull(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        """Merge (merge commit), squash (one new commit with the head's changes) or rebase; the head branch stays,
        as GitHub keeps it unless the repository deletes head branches."""
        r, p = self._find_pull(m)
        self._writable(r)
        options = body if isinstance(body, dict) else {}
        method = options.get("merge_method", "merge")
        if method not in MERGE_METHODS:
            raise _ApiError(
                422, MSG_VALIDATION, errors=[{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}]
            )
        if p.state != "open" or p.head not in r.heads:
            raise _ApiError(405, MSG_NOT_MERGEABLE)
        head_sha, base_sha = r.heads[p.head], r.heads[p.base]
        if options.get("sha") not in (None, head_sha):
            raise _ApiError(409, MSG_HEAD_MODIFIED)
        # The head's changes since the pull request's base, applied to the base as it is now.
        before, after = r.commits[p.base_sha], r.commits[head_sha]
        tree = dict(r.commits[base_sha])
        for path in before.keys() - after.keys():
            tree.pop(path, None)
        tree.update({path: data for path, data in after.items() if before.get(path) != data})
        parents = (base_sha, head_sha) if method == "merge" else (base_sha,)
        merged = r.commit(parents, tree, f"{method}\0#{p.number}")
        r.heads[p.base] = merged
        p.state, p.merged_at, p.merge_commit_sha = "closed", _iso(self.now()), merged
        return 200, {"sha": merged, "merged": True, "message": MSG_MERGED}, {}

    def _get_labels(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        _, p = self._find_pull(m)
        return 200, [self._label_json(name) for name in p.labels], {}

    def _add_labels(self, m: re.Match[str], query: dict[str, str], body: Any) -> _Response:
        r, p = self._find_pull(m)
        if r.spec.archived:
            raise _ApiError(403, MSG_ARCHIVED)
        # GitHub takes {"labels": [...]} or a bare list, of names or {"name": ...} objects.
        raw = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(raw, list):
            raise _ApiError(422, MSG_INVALID)
        names = [item.get("name") if isinstance(item, dict) else item for item in raw]
        if not all(isinstance(name, str) and name for name in names):
            raise _ApiError(422, MSG_INVALID)
        for name in cast(list[str], names):
            if name not in p.labels:
                p.labels.append(name)
        return 200, [self._label_json(name) for name in p.labels], {}


def _valid_branch(name: str) -> bool:
    """The parts of git's check-ref-format that matter for names clients send."""
    bad = (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{", "//")
    return (
        bool(name)
        and not any(b in name for b in bad)
        and not name.endswith(("/", ".", ".lock"))
        and (not name.startswith(("/", "-", ".")))
    )


_R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_ROUTES: list[tuple[re.Pattern[str], dict[str, _Handler]]] = [
    (re.compile(r"/rate_limit"), {"GET": GitHubServer._get_rate_limit}),
    (re.compile(r"/user"), {"GET": GitHubServer._get_user}),
    (re.compile(r"/(?:orgs|users)/(?P<owner>[^/]+)/repos"), {"GET": GitHubServer._list_repos}),
    (re.compile(_R), {"GET": GitHubServer._get_repo}),
    (re.compile(_R + r"/git/ref/heads/(?P<branch>.+)"), {"GET": GitHubServer._get_ref}),
    (re.compile(_R + r"/git/refs/heads/(?P<branch>.+)"), {"GET": GitHubServer._match_refs}),
    (re.compile(_R + r"/git/refs"), {"POST": GitHubServer._create_ref}),
    (re.compile(_R + r"/branches"), {"GET": GitHubServer._list_branches}),
    (re.compile(_R + r"/branches/(?P<branch>.+)"), {"GET": GitHubServer._get_branch}),
    (
        re.compile(_R + r"/contents(?:/(?P<path>.*))?"),
        {"GET": GitHubServer._get_contents, "PUT": GitHubServer._put_contents},
    ),
    (re.compile(_R + r"/pulls"), {"GET": GitHubServer._list_pulls, "POST": GitHubServer._create_pull}),
    (re.compile(_R + r"/pulls/(?P<number>\d+)"), {"GET": GitHubServer._get_pull}),
    (re.compile(_R + r"/pulls/(?P<number>\d+)/merge"), {"PUT": GitHubServer._merge_pull}),
    (
        re.compile(_R + r"/issues/(?P<number>\d+)/labels"),
        {"GET": GitHubServer._get_labels, "POST": GitHubServer._add_labels},
    ),
]


# ---- worlds --------------------------------------------------------------------------------------------------------


def _spread(n: int, k: int) -> list[int]:
    """k indices of range(n), evenly spread (distinct when k <= n)."""
    return [(2 * i + 1) * n // (2 * k) for i in range(k)]


def org_world(
    org: str = "acme",
    count: int = 75,
    *,
    protected: int = 0,
    archived: int = 0,
    forks: int = 0,
    topics: dict[str, list[str]] | None = None,
) -> list[RepoSpec]:
    """Repositories {org}/repo-001 ... with a README each; some protected, archived or forks, spread evenly.

    `topics` maps a repository's name ("repo-007" or "acme/repo-007") to its topics.
    """
    if min(count, protected, archived, forks) < 0:
        raise ValueError("counts must be >= 0")
    if protected + archived + forks > count:
        raise ValueError(f"protected + archived + forks ({protected + archived + forks}) exceeds count ({count})")
    specs = [
        RepoSpec(full_name=f"{org}/repo-{i:03d}", files={"README.md": f"# repo-{i:03d}\n"}) for i in range(1, count + 1)
    ]
    free = list(range(count))
    for how_many, kind in ((protected, "protected"), (archived, "archived"), (forks, "fork")):
        chosen = [free[i] for i in _spread(len(free), how_many)] if how_many else []
        for index in chosen:
            if kind == "protected":
                specs[index].protected = ["*"]
            elif kind == "archived":
                specs[index].archived = True
            else:
                specs[index].fork = True
        free = [i for i in free if i not in set(chosen)]
    by_name = {s.full_name: s for s in specs}
    for key, names in (topics or {}).items():
        spec = by_name.get(key if "/" in key else f"{org}/{key}")
        if spec is None:
            raise ValueError(f"topics: no repository {key!r} in the world")
        spec.topics = list(names)
    return specs


_FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "full_name": (lambda v: isinstance(v, str), "must be a string 'owner/name'"),
    "default_branch": (lambda v: isinstance(v, str) and bool(v), "must be a non-empty string"),
    "archived": (lambda v: isinstance(v, bool), "must be true or false"),
    "fork": (lambda v: isinstance(v, bool), "must be true or false"),
    "private": (lambda v: isinstance(v, bool), "must be true or false"),
    "can_push": (lambda v: isinstance(v, bool), "must be true or false"),
    "topics": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "must be a list of strings"),
    "protected": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "must be a list of strings"),
    "files": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and k and isinstance(t, str) for k, t in v.items()),
        "must be an object of path -> text",
    ),
}


def load_world(path: Path) -> list[RepoSpec]:
    """Repositories from a JSON file {"repos": [{RepoSpec fields}, ...]}; ValueError names the bad field.

    OSError propagates when the file cannot be read.
    """
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("repos"), list):
        raise ValueError(f'{path}: repos: must be a list (the file is {{"repos": [...]}})')
    known = {f.name for f in fields(RepoSpec)}
    specs: list[RepoSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(data["repos"]):
        where = f"repos[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be an object")
        unknown = sorted(set(item) - known)
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
        if "full_name" not in item:
            raise ValueError(f"{where}.full_name: required")
        for name, value in item.items():
            check, message = _FIELD_CHECKS[name]
            if not check(value):
                raise ValueError(f"{where}.{name}: {message}")
        spec = RepoSpec(**item)
        try:
            _check_spec(spec)
        except ValueError as err:
            raise ValueError(f"{where}.{err}") from None
        if spec.full_name.lower() in seen:
            raise ValueError(f"{where}.full_name: {spec.full_name!r} appears twice")
        seen.add(spec.full_name.lower())
        specs.append(spec)
    return specs
