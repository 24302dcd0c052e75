"""GitHub REST client: gidgethub's sans-I/O core over urllib3, and GitHub's answers mapped to our error names.

Why gidgethub (docs/github.md, "The client and its bundling"): 78 KB of code and ~25 ms to import, against
PyGithub's 31 MB (native cryptography and PyNaCl, platform wheels) and ~200 ms. Its HTTP is pluggable; we plug in
urllib3, which the Lambda Python runtime already ships with boto3, so the asset gains only gidgethub and uritemplate.

Waiting belongs to Step Functions, not to a Lambda: a rate-limit answer whose wait is short (`retry-after`,
or the primary limit's reset) is waited out here, twice per request at most; anything longer becomes an error
whose message starts "retry after N s: ", which the state machine honours with a Wait state before trying the
target again (stacks/workflow.py, HonourRetryAfter). When GitHub said when (a reset, a retry-after) it is a
RateLimitResetError, which no fast Retry resends early; only a limit of unknown length is a RateLimitError.
The token lives in Secrets Manager and is read through Powertools Parameters (cached); it is sent in the
Authorization header and nowhere else: no message we raise or log contains it.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

import gidgethub
import urllib3
from gidgethub import abc as gh_abc

from shared import caches, clock
from shared.budget import Budget
from shared.config import GitHubEnv
from shared.errors import (
    ArchivedRepositoryError,
    CredentialsError,
    HubSpokeError,
    PermissionDeniedError,
    ProtectedBranchError,
    RateLimitError,
    RateLimitResetError,
    TargetError,
    TargetNotFoundError,
    TransientError,
)

USER_AGENT = "hubspoke"
INLINE_RETRIES = 2  # per request; more than that and the state machine's backoff takes over
_T = TypeVar("_T")


@caches.register
@cache
def _pool() -> urllib3.PoolManager:
    # One pool per container: keep-alive across the spoke's sequential requests; PoolManager is thread-safe.
    return urllib3.PoolManager(num_pools=4, maxsize=32, retries=False)


def token(secret_name: str) -> str:
    """The token from Secrets Manager, cached for 5 minutes per container (Powertools Parameters)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(secret_name, max_age=300)
    except parameters.exceptions.GetParameterError as err:
        # The SDK's message names the secret, never its value.
        raise CredentialsError(
            f"cannot read the GitHub token from Secrets Manager secret '{secret_name}': {err}"
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(f"Secrets Manager secret '{secret_name}' holds no token (empty or binary)")
    return value.strip()


@caches.on_reset
def _forget_token() -> None:
    # Powertools Parameters keeps the token per process (above); a new container reads it anew.
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # type: ignore[no-untyped-call]


class GitHub(gh_abc.GitHubAPI):
    """gidgethub's API over urllib3, with short secondary-limit waits on the simulated-aware clock."""

    def __init__(
        self,
        oauth_token: str,
        base_url: str,
        *,
        inline_retry_after_max_seconds: int = 10,
        request_timeout_seconds: int = 20,
        sleep: Callable[[float], None] = clock.sleep,
    ) -> None:
        super().__init__(USER_AGENT, oauth_token=oauth_token, base_url=base_url)
        # Injected so tests can share one manual clock with the server: a wait costs no real time.
        self._sleep = sleep
        self._timeout = urllib3.Timeout(connect=5.0, read=float(request_timeout_seconds))
        self._inline_max = inline_retry_after_max_seconds
        self.last_headers: Mapping[str, str] = {}

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            response = _pool().request(
                method, url, headers=dict(headers), body=body or None, timeout=self._timeout, redirect=False
            )
        except urllib3.exceptions.HTTPError as err:
            # Connection refused, reset, timed out: worth another try later. The URL holds no secret.
            raise TransientError(f"{method} {url}: GitHub unreachable ({type(err).__name__})") from None
        received = {key.lower(): value for key, value in response.headers.items()}
        self.last_headers = received
        return response.status, received, response.data

    async def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: gidgethub.HTTPException, attempt: int
    ) -> bool:
        """Wait out a short rate limit here; everything else goes to the caller (and Step Functions)."""
        wait = rate_limit_wait(exception.status_code, exception.headers)
        if wait is None or wait > self._inline_max or attempt > INLINE_RETRIES:
            return False
        await self.sleep(wait)
        return True


# GitHub: without a retry-after, wait at least a minute after a secondary rate limit.
SECONDARY_DEFAULT_WAIT_SECONDS = 60


def is_primary_limit(status: int, headers: Mapping[str, str]) -> bool:
    return status in (403, 429) and headers.get("x-ratelimit-remaining") == "0"


def rate_limit_wait(status: int, headers: Mapping[str, str]) -> int | None:
    """Seconds until a rate-limited request may be sent again, or None when the answer is no rate limit.

    Primary (403/429, x-ratelimit-remaining 0): until x-ratelimit-reset on the server's clock, plus a second.
    Secondary (403/429 with retry-after): retry-after.
    """
    if status not in (403, 429):
        return None
    if is_primary_limit(status, headers):
        reset = headers.get("x-ratelimit-reset", "")
        if not reset.isdigit():
            return SECONDARY_DEFAULT_WAIT_SECONDS
        return max(1, math.ceil(int(reset) - server_time(headers)) + 1)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        return None


def retry_after_error(seconds: int, detail: str, *, known: bool = False) -> RateLimitError:
    """A rate-limit error whose message starts "retry after <seconds> s: ", which the state machine waits out.

    `known`: GitHub said when (x-ratelimit-reset, retry-after), so nothing may be sent before then: a
    RateLimitResetError, which skips the fast Retry. Otherwise a RateLimitError (backoff first, then the wait).
    """
    kind = RateLimitResetError if known else RateLimitError
    return kind(f"retry after {max(0, int(seconds))} s: {detail}")


def server_time(headers: Mapping[str, str]) -> float:
    """The server's clock from its Date header (the reset epoch is on that clock), else ours."""
    raw = headers.get("date")
    if raw:
        try:
            return email.utils.parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


def _message(err: gidgethub.HTTPException) -> str:
    text = " ".join(str(a) for a in err.args if a) or err.status_code.phrase
    return " ".join(text.split())  # GitHub's rule messages span lines


def translate(err: Exception, doing: str) -> Exception:
    """GitHub's answer to `doing` as one of our error names (Step Functions retries or records it)."""
    if isinstance(err, HubSpokeError):
        return err
    if not isinstance(err, gidgethub.HTTPException):
        return err
    status = int(err.status_code)
    headers = err.headers
    message = _message(err)
    where = f"{doing}: {message} ({status})"
    if isinstance(err, gidgethub.RateLimitExceeded) or is_primary_limit(status, headers):
        reset = headers.get("x-ratelimit-reset", "")
        when = datetime.fromtimestamp(int(reset), UTC).isoformat() if reset.isdigit() else "unknown"
        wait = rate_limit_wait(403, {**headers, "x-ratelimit-remaining": "0"})
        detail = f"{doing}: primary rate limit exhausted, resets at {when} ({status})"
        return retry_after_error(wait or 1, detail, known=reset.isdigit())
    wait = rate_limit_wait(status, headers)
    if wait is not None or (status in (403, 429) and "secondary rate limit" in message.lower()):
        seconds = SECONDARY_DEFAULT_WAIT_SECONDS if wait is None else wait
        return retry_after_error(seconds, f"{doing}: secondary rate limit ({status})", known=wait is not None)
    if status >= 500:
        return TransientError(where)
    if status == 401:
        return CredentialsError(f"{doing}: the GitHub token was rejected ({message}, 401)")
    lowered = message.lower()
    if "archived" in lowered:
        return ArchivedRepositoryError(f"archived repository (read-only): {where}")
    if "rule violation" in lowered or "protected branch" in lowered:
        return ProtectedBranchError(f"protected branch: {where}")
    if status == 404:
        return TargetNotFoundError(f"not found or not visible to the token: {where}")
    if status == 403:
        return PermissionDeniedError(f"permission denied: {where}")
    return TargetError(where)


async def attempt(doing: str, call: Awaitable[_T]) -> _T:
    """Await one GitHub call, raising our error names instead of gidgethub's."""
    try:
        return await call
    except gidgethub.GitHubException as err:
        raise translate(err, doing) from None


def is_status(err: BaseException, status: int, text: str = "") -> bool:
    """A gidgethub HTTP error with this status (and this text in its message or validation errors)."""
    if not isinstance(err, gidgethub.HTTPException) or int(err.status_code) != status:
        return False
    if not text:
        return True
    details = [_message(err)]
    errors = getattr(err, "errors", None)
    if isinstance(errors, list):
        details += [str(e.get("message", "")) if isinstance(e, dict) else str(e) for e in errors]
    return any(text.lower() in d.lower() for d in details)


def run_with_github(cfg: GitHubEnv, work: Callable[[GitHub], Awaitable[_T]]) -> _T:
    """Connect with the function's URL and token and run `work` to completion (one event loop per call)."""

    async def main() -> _T:
        gh = GitHub(
            token(cfg.github_token_secret),
            cfg.github_api_url,
            inline_retry_after_max_seconds=cfg.github_inline_retry_after_max_seconds,
            request_timeout_seconds=cfg.github_request_timeout_seconds,
        )
        return await work(gh)

    return asyncio.run(main())


# GitHub's own naming rules: an owner is a login (letters, digits, inner hyphens), a repository name is letters,
# digits, '.', '-' and '_', never '.' or '..'. Anything else is refused before it reaches a URL: a '..' segment
# would be resolved away by the HTTP client and send the request to another path of the API.
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_REPOSITORY = re.compile(r"[A-Za-z0-9._-]{1,100}")


def repo_parts(full_name: str) -> tuple[str, str]:
    """'owner/name' -> ('owner', 'name'), or a TargetError naming what is wrong."""
    owner, _, name = full_name.partition("/")
    if not _OWNER.fullmatch(owner) or not _REPOSITORY.fullmatch(name) or name in (".", ".."):
        raise TargetError(f"{full_name!r} is not a repository name of the form owner/name")
    return owner, name


def json_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def rate_budget(cfg: GitHubEnv) -> Budget:
    """The token's `core` budget (GET /rate_limit does not count against it), reset time on GitHub's clock."""

    async def read(gh: GitHub) -> Budget:
        answer = json_dict(await attempt("reading the rate limit", gh.getitem("/rate_limit")))
        core = json_dict(json_dict(answer.get("resources")).get("core")) or json_dict(answer.get("rate"))
        reset_in = float(core.get("reset", 0)) - server_time(gh.last_headers)
        return Budget(int(core.get("remaining", 0)), int(core.get("limit", 0)), max(0.0, reset_in))

    return run_with_github(cfg, read)
