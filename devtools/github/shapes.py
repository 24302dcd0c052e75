"""The JSON GitHub answers with, for the fields the product reads (and the ids and URLs around them)."""

from __future__ import annotations

import base64
import math
from typing import Any
from urllib.parse import urlencode

from devtools.github.model import Pull, Repo, blob_sha, stable_id

USER_LOGIN = "local-user"  # the login the token belongs to; GitHub's rate-limit message names user ID 1
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100


def node_id(kind: str, number: int) -> str:
    # GitHub's legacy global node ids are base64 of "<len>:<Type><id>".
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def b64_lines(data: bytes) -> str:
    """Base64 with a newline after every 60 characters, as the contents API returns it."""
    text = base64.b64encode(data).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def repo_json(base: str, r: Repo) -> dict[str, Any]:
    spec = r.spec
    return {
        "id": r.id,
        "node_id": node_id("Repository", r.id),
        "name": spec.full_name.split("/", 1)[1],
        "full_name": spec.full_name,
        "owner": {"login": r.owner, "id": stable_id(r.owner), "type": "Organization"},
        "private": spec.private,
        "fork": spec.fork,
        "archived": spec.archived,
        "disabled": False,
        "default_branch": spec.default_branch,
        "topics": list(spec.topics),
        "visibility": "private" if spec.private else "public",
        "html_url": f"{base}/{spec.full_name}",
        "url": f"{base}/repos/{spec.full_name}",
        "permissions": {"admin": False, "maintain": False, "push": spec.can_push, "triage": True, "pull": True},
    }


def ref_json(base: str, r: Repo, branch: str) -> dict[str, Any]:
    api, sha = f"{base}/repos/{r.spec.full_name}", r.heads[branch]
    return {
        "ref": f"refs/heads/{branch}",
        "url": f"{api}/git/refs/heads/{branch}",
        "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
    }


def content_json(base: str, r: Repo, ref: str, path: str, data: bytes) -> dict[str, Any]:
    api, sha = f"{base}/repos/{r.spec.full_name}", blob_sha(data)
    return {
        "type": "file",
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": len(data),
        "url": f"{api}/contents/{path}?{urlencode({'ref': ref})}",
        "html_url": f"{base}/{r.spec.full_name}/blob/{ref}/{path}",
        "git_url": f"{api}/git/blobs/{sha}",
        "download_url": None,
    }


def pull_json(base: str, r: Repo, p: Pull) -> dict[str, Any]:
    full = r.spec.full_name
    api = f"{base}/repos/{full}"

    def side(branch: str, sha: str) -> dict[str, Any]:
        return {"label": f"{r.owner}:{branch}", "ref": branch, "sha": r.heads.get(branch, sha)}

    return {
        "id": p.id,
        "node_id": node_id("PullRequest", p.id),
        "number": p.number,
        "state": p.state,
        "title": p.title,
        "body": p.body,
        "draft": p.draft,
        "merged": p.merged_at is not None,
        "merged_at": p.merged_at,
        "merge_commit_sha": p.merge_commit_sha,
        "user": {"login": USER_LOGIN, "id": 1, "type": "User"},
        "html_url": f"{base}/{full}/pull/{p.number}",
        "url": f"{api}/pulls/{p.number}",
        "issue_url": f"{api}/issues/{p.number}",
        "created_at": p.created_at,
        "updated_at": p.created_at,
        "closed_at": p.merged_at,
        "head": side(p.head, p.head_sha),
        "base": side(p.base, p.base_sha),
        "labels": [label_json(name) for name in p.labels],
    }


def label_json(name: str) -> dict[str, Any]:
    label_id = stable_id("label", name)
    return {"id": label_id, "node_id": node_id("Label", label_id), "name": name, "color": "ededed", "default": False}


def paginate(base: str, path: str, query: dict[str, str], items: list[Any]) -> tuple[list[Any], dict[str, str]]:
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
        return f'<{base}{path}?{urlencode({**query, "per_page": per_page, "page": to})}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    return chunk, {"link": ", ".join(links)}
