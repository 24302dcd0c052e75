"""The REST endpoints the product calls (lambdas/shared/github.py, hub/sources/github_org.py,
spoke/operations/github_pull_request.py), with GitHub's status codes and error messages; nothing else.

Each handler takes the site, the path's match, the query and the parsed JSON body, and returns
(status, body, extra headers), or raises ApiError.
"""

from __future__ import annotations

import re
from typing import Any

from devtools.github import pulls, repos
from devtools.github.errors import MSG_NOT_FOUND, ApiError
from devtools.github.site import Handler, Response, Site

_R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/rate_limit"), {"GET": repos.get_rate_limit}),
    (re.compile(r"/(?:orgs|users)/(?P<owner>[^/]+)/repos"), {"GET": repos.list_repos}),
    (re.compile(_R), {"GET": repos.get_repo}),
    (re.compile(_R + r"/git/ref/heads/(?P<branch>.+)"), {"GET": repos.get_ref}),
    (re.compile(_R + r"/git/refs"), {"POST": repos.create_ref}),
    (re.compile(_R + r"/contents(?:/(?P<path>.*))?"), {"GET": repos.get_contents, "PUT": repos.put_contents}),
    (re.compile(_R + r"/pulls"), {"GET": pulls.list_pulls, "POST": pulls.create_pull}),
    (re.compile(_R + r"/issues/(?P<number>\d+)/labels"), {"POST": pulls.add_labels}),
]


def route(site: Site, method: str, path: str, query: dict[str, str], body: Any) -> Response:
    """The answer of the endpoint for `method path`; GitHub answers 404 for an unknown path or method."""
    for pattern, handlers in ROUTES:
        m = pattern.fullmatch(path)
        if m is not None:
            handler = handlers.get(method)
            if handler is None:
                break
            return handler(site, m, query, body)
    raise ApiError(404, MSG_NOT_FOUND)
