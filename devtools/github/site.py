"""What every endpoint handler takes and shares: the site (the server as handlers see it), the answer type,
and the repository lookups with GitHub's 404 and 403s."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from devtools.github.errors import MSG_ARCHIVED, MSG_NO_PUSH, MSG_NOT_FOUND, ApiError
from devtools.github.model import Repo
from devtools.github.ratelimit import RateLimiter

Response = tuple[int, Any, dict[str, str]]


class Site(Protocol):
    """What the handlers need of the server: its URL, clock, repositories and rate limiter."""

    world: dict[str, Repo]  # keyed by lower-case full name: GitHub's names are case-insensitive
    limiter: RateLimiter

    @property
    def url(self) -> str: ...

    def now(self) -> float: ...


Handler = Callable[[Site, re.Match[str], dict[str, str], Any], Response]


def find_repo(site: Site, m: re.Match[str]) -> Repo:
    r = site.world.get(f"{m['owner']}/{m['repo']}".lower())
    if r is None:
        raise ApiError(404, MSG_NOT_FOUND)
    return r


def writable(r: Repo) -> None:
    if r.spec.archived:
        raise ApiError(403, MSG_ARCHIVED)
    if not r.spec.can_push:
        raise ApiError(403, MSG_NO_PUSH)
