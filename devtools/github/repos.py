"""Endpoints for repositories, branch refs and file contents, as the hub's github-org source and the spoke's
file sync call them."""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from devtools.github import shapes
from devtools.github.errors import (
    MSG_INVALID,
    MSG_NO_OBJECT,
    MSG_NOT_FOUND,
    MSG_REF_EXISTS,
    MSG_RULES_CREATE,
    MSG_RULES_UPDATE,
    MSG_SHA_MISSING,
    ApiError,
)
from devtools.github.model import blob_sha, sha1
from devtools.github.site import Response, Site, find_repo, writable


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
    return 200, shapes.repo_json(site.url, find_repo(site, m)), {}


def get_ref(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = find_repo(site, m)
    if m["branch"] not in r.heads:
        raise ApiError(404, MSG_NOT_FOUND)
    return 200, shapes.ref_json(site.url, r, m["branch"]), {}


def create_ref(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = find_repo(site, m)
    writable(r)
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
    r = find_repo(site, m)
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
    r = find_repo(site, m)
    writable(r)
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
