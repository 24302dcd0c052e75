"""The REST endpoints the product calls (lambdas/shared/github.py, hub/sources/github_org.py,
spoke/operations/github_pull_request.py), with GitHub's status codes and error messages; nothing else.

Each handler takes the site, the path's match, the query and the parsed JSON body, and returns
(status, body, extra headers), or raises ApiError.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from typing import Any, Protocol, cast

from devtools.github import shapes
from devtools.github.errors import (
    MSG_ARCHIVED,
    MSG_INVALID,
    MSG_NO_OBJECT,
    MSG_NO_PUSH,
    MSG_NOT_FOUND,
    MSG_REF_EXISTS,
    MSG_RULES_CREATE,
    MSG_RULES_UPDATE,
    MSG_SHA_MISSING,
    ApiError,
    validation,
)
from devtools.github.model import Pull, Repo, blob_sha, iso, sha1, stable_id
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


def _repo(site: Site, m: re.Match[str]) -> Repo:
    r = site.world.get(f"{m['owner']}/{m['repo']}".lower())
    if r is None:
        raise ApiError(404, MSG_NOT_FOUND)
    return r


def _writable(r: Repo) -> None:
    if r.spec.archived:
        raise ApiError(403, MSG_ARCHIVED)
    if not r.spec.can_push:
        raise ApiError(403, MSG_NO_PUSH)


def get_rate_limit(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    now = math.ceil(site.now())
    core = {**site.limiter.core(), "resource": "core"}

    def fixed(resource: str, limit: int, window: int) -> dict[str, Any]:
        return {"limit": limit, "remaining": limit, "reset": now + window, "used": 0, "resource": resource}

    resources = {"core": core, "search": fixed("search", 30, 60), "graphql": fixed("graphql", 5000, 3600)}
    return 200, {"resources": resources, "rate": dict(core)}, {}


def list_repos(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    owner = m["owner"].lower()
    repos = sorted((r for r in site.world.values() if r.owner.lower() == owner), key=lambda r: r.spec.full_name.lower())
    if not repos:
        raise ApiError(404, MSG_NOT_FOUND)
    page, link = shapes.paginate(site.url, m.group(0), query, repos)
    return 200, [shapes.repo_json(site.url, r) for r in page], link


def get_repo(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    return 200, shapes.repo_json(site.url, _repo(site, m)), {}


def get_ref(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = _repo(site, m)
    if m["branch"] not in r.heads:
        raise ApiError(404, MSG_NOT_FOUND)
    return 200, shapes.ref_json(site.url, r, m["branch"]), {}


def create_ref(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = _repo(site, m)
    _writable(r)
    ref, sha = (body.get("ref"), body.get("sha")) if isinstance(body, dict) else (None, None)
    if not (isinstance(ref, str) and isinstance(sha, str) and ref.startswith("refs/heads/")):
        raise ApiError(422, MSG_INVALID)
    branch = ref.removeprefix("refs/heads/")
    if branch in r.heads:
        raise ApiError(422, MSG_REF_EXISTS)
    if r.protected(branch):
        raise ApiError(422, MSG_RULES_CREATE)
    if sha not in r.commits:
        raise ApiError(422, MSG_NO_OBJECT)
    r.heads[branch] = sha
    out = shapes.ref_json(site.url, r, branch)
    return 201, out, {"location": out["url"]}


def get_contents(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = _repo(site, m)
    ref = query.get("ref") or r.spec.default_branch
    sha = r.heads.get(ref, ref if ref in r.commits else None)  # a ref may name a branch or a commit
    if sha is None:
        raise ApiError(404, MSG_NOT_FOUND)
    tree, path = r.commits[sha], (m["path"] or "").strip("/")
    if path in tree:
        data = tree[path]
        return (
            200,
            {
                **shapes.content_json(site.url, r, ref, path, data),
                "encoding": "base64",
                "content": shapes.b64_lines(data),
            },
            {},
        )
    # A directory answers a list of its entries (the product refuses to overwrite one).
    prefix = f"{path}/" if path else ""
    names = sorted({p[len(prefix) :].split("/", 1)[0] for p in tree if p.startswith(prefix)})
    if not names:
        raise ApiError(404, MSG_NOT_FOUND)
    entries = [{"type": "dir" if prefix + n not in tree else "file", "name": n, "path": prefix + n} for n in names]
    return 200, [{**e, "sha": sha1(f"tree\0{sha}\0{e['path']}".encode())} for e in entries], {}


def put_contents(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = _repo(site, m)
    _writable(r)
    path = (m["path"] or "").strip("/")
    if not isinstance(body, dict):
        raise ApiError(422, MSG_INVALID)
    message, content = body.get("message"), body.get("content")
    branch, given_sha = body.get("branch", r.spec.default_branch), body.get("sha")
    if not (path and isinstance(message, str) and message and isinstance(content, str) and isinstance(branch, str)):
        raise ApiError(422, MSG_INVALID)
    if given_sha is not None and not isinstance(given_sha, str):
        raise ApiError(422, MSG_INVALID)
    try:
        data = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, MSG_INVALID) from None
    if branch not in r.heads:
        raise ApiError(404, f"Branch {branch} not found")
    if r.protected(branch):
        raise ApiError(409, MSG_RULES_UPDATE)
    parent = r.heads[branch]
    existing = r.commits[parent].get(path)
    if existing is not None and not given_sha:
        raise ApiError(422, MSG_SHA_MISSING)
    if given_sha and (existing is None or blob_sha(existing) != given_sha):
        raise ApiError(409, f"{path} does not match {given_sha}")
    commit = r.commit((parent,), {**r.commits[parent], path: data}, f"{path}\0{message}")
    r.heads[branch] = commit
    out = {
        "content": shapes.content_json(site.url, r, branch, path, data),
        "commit": {"sha": commit, "message": message, "parents": [{"sha": parent}]},
    }
    return (200 if existing is not None else 201), out, {}


def list_pulls(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = _repo(site, m)
    state = query.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation("Issue", field="state")
    pulls = [p for p in r.pulls if state in ("all", p.state)]
    if "head" in query:
        owner, _, branch = query["head"].rpartition(":")
        pulls = [p for p in pulls if p.head == branch and (not owner or owner.lower() == r.owner.lower())]
    if "base" in query:
        pulls = [p for p in pulls if p.base == query["base"]]
    pulls.sort(key=lambda p: p.number, reverse=True)  # GitHub's default order: newest first
    page, link = shapes.paginate(site.url, m.group(0), query, pulls)
    return 200, [shapes.pull_json(site.url, r, p) for p in page], link


def create_pull(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = _repo(site, m)
    _writable(r)
    if not isinstance(body, dict):
        raise ApiError(422, MSG_INVALID)
    title, head, base = body.get("title"), body.get("head"), body.get("base")
    text, draft = body.get("body"), body.get("draft", False)
    if not all(isinstance(v, str) and v for v in (title, head, base)):
        raise ApiError(422, MSG_INVALID)
    if not (text is None or isinstance(text, str)) or not isinstance(draft, bool):
        raise ApiError(422, MSG_INVALID)
    title, head, base = str(title), str(head), str(base)
    head_owner, _, head_branch = head.rpartition(":")
    if (head_owner and head_owner.lower() != r.owner.lower()) or head_branch not in r.heads:
        raise validation("PullRequest", field="head")
    if base not in r.heads:
        raise validation("PullRequest", field="base")
    if any(p.state == "open" and p.head == head_branch and p.base == base for p in r.pulls):
        raise validation("PullRequest", message=f"A pull request already exists for {r.owner}:{head_branch}.")
    head_sha, base_sha = r.heads[head_branch], r.heads[base]
    # Git's answer, not the trees': after a squash merge the head's commits are not on the base, so GitHub opens
    # a pull request even when every file is the same on both.
    if head_sha in r.history(base_sha):
        raise validation("PullRequest", message=f"No commits between {base} and {head_branch}")
    number = len(r.pulls) + 1
    pull = Pull(
        number=number,
        id=stable_id(r.spec.full_name, "pull", str(number)),
        title=title,
        body=text,
        draft=draft,
        head=head_branch,
        base=base,
        head_sha=head_sha,
        base_sha=base_sha,
        created_at=iso(site.now()),
    )
    r.pulls.append(pull)
    r.pulls_created += 1
    out = shapes.pull_json(site.url, r, pull)
    return 201, out, {"location": out["url"]}


def add_labels(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = _repo(site, m)
    pull = next((p for p in r.pulls if p.number == int(m["number"])), None)
    if pull is None:
        raise ApiError(404, MSG_NOT_FOUND)
    if r.spec.archived:
        raise ApiError(403, MSG_ARCHIVED)
    # GitHub takes {"labels": [...]} or a bare list, of names or {"name": ...} objects.
    raw = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(raw, list):
        raise ApiError(422, MSG_INVALID)
    names = [item.get("name") if isinstance(item, dict) else item for item in raw]
    if not all(isinstance(name, str) and name for name in names):
        raise ApiError(422, MSG_INVALID)
    for name in cast(list[str], names):
        if name not in pull.labels:
            pull.labels.append(name)
    return 200, [shapes.label_json(name) for name in pull.labels], {}


_R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/rate_limit"), {"GET": get_rate_limit}),
    (re.compile(r"/(?:orgs|users)/(?P<owner>[^/]+)/repos"), {"GET": list_repos}),
    (re.compile(_R), {"GET": get_repo}),
    (re.compile(_R + r"/git/ref/heads/(?P<branch>.+)"), {"GET": get_ref}),
    (re.compile(_R + r"/git/refs"), {"POST": create_ref}),
    (re.compile(_R + r"/contents(?:/(?P<path>.*))?"), {"GET": get_contents, "PUT": put_contents}),
    (re.compile(_R + r"/pulls"), {"GET": list_pulls, "POST": create_pull}),
    (re.compile(_R + r"/issues/(?P<number>\d+)/labels"), {"POST": add_labels}),
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
