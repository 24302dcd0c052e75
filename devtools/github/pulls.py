"""Endpoints for pull requests and their labels, as the spoke's file sync calls them."""

from __future__ import annotations

import re
from typing import Any, cast

from devtools.github import shapes
from devtools.github.errors import MSG_ARCHIVED, MSG_INVALID, MSG_NOT_FOUND, ApiError, validation
from devtools.github.model import Pull, iso, stable_id
from devtools.github.site import Response, Site, find_repo, writable


def list_pulls(site: Site, m: re.Match[str], query: dict[str, str], body: Any) -> Response:
    r = find_repo(site, m)
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
    r = find_repo(site, m)
    writable(r)
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
    r = find_repo(site, m)
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
