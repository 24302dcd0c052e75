"""github-file-sync's requests: one pull request on one repository (see github_file_sync.py)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from shared.errors import ArchivedRepositoryError, PermissionDeniedError, TargetError, TransientError
from shared.github import GitHub, attempt, is_status, json_dict, repo_parts, translate
from shared.models import OperationResult
from spoke.operations.github_file_params import FileSpec, Params


def run_marker(run_id: str) -> str:
    """Written into the pull request's body (an HTML comment, not rendered): which run opened it."""
    return f"<!-- hubspoke run: {run_id} -->"


async def sync(gh: GitHub, params: Params, full_name: str, run_id: str) -> OperationResult:
    """Make the files so on the base through one pull request; `opened` when this run (any attempt) made it,
    `reused` when it was there before, `unchanged` when the base already has every file as given."""
    owner, name = repo_parts(full_name)
    where = {"owner": owner, "repo": name}
    repo = json_dict(await attempt(f"reading {full_name}", gh.getitem("/repos/{owner}/{repo}", where)))
    if repo.get("archived"):
        raise ArchivedRepositoryError(f"archived repository (read-only): {full_name} accepts no pull requests")
    if not json_dict(repo.get("permissions")).get("push", True):
        raise PermissionDeniedError(f"permission denied: the token cannot push to {full_name}")
    base = params.base or str(repo.get("default_branch") or "main")
    branch = params.branch

    # Identical on the base means nothing to propose, whatever branches exist: GitHub keeps the sync branch after a
    # squash merge, and a pull request from it would carry its old commits and no diff.
    current = await _read_files(gh, where, params, base)
    if all(current[f.path][0] == f.content.encode() for f in params.files):
        return OperationResult(status="unchanged", detail={"branch": base, "reason": f"files already on {base}"})
    pull = await _open_pull(gh, where, owner, branch, base)
    if await _branch_sha(gh, where, branch) is None:
        # A new branch starts as a copy of the base, so the base's files just read are its files.
        base_sha = await _branch_sha(gh, where, base)
        if base_sha is None:
            raise TargetError(f"{full_name}: base branch '{base}' does not exist")
        if not await _create_branch(gh, where, branch, base_sha):
            current = await _read_files(gh, where, params, branch)  # an earlier attempt's branch: read it
    else:
        current = await _read_files(gh, where, params, branch)

    changed = 0
    for spec in params.files:
        changed += await _put_file(gh, where, spec, branch, params.commit_message or params.title, current[spec.path])

    detail: dict[str, Any] = {"branch": branch, "files_changed": changed}
    marker = run_marker(run_id)
    created = False
    if pull is None:
        pull, created = await _create_pull(gh, where, owner, params, branch, base, marker)
        if pull is None:  # the branch carries nothing base lacks: nothing to propose
            return OperationResult(status="unchanged", detail={**detail, "reason": f"no difference to {base}"})
    # An earlier attempt of this run (whose answer or label request failed) opened it; anyone else's is reused,
    # also when it appeared between our look and our create (422 "already exists").
    opened = created or marker in str(pull.get("body") or "")
    detail["pull_request"] = "opened" if opened else "reused"
    detail.update(pr_url=pull.get("html_url"), pr_number=pull.get("number"))
    # Labels after the pull request exists, also on reuse: an attempt that died between the two is mended.
    changed += await _label(gh, where, pull, params.labels)
    # A rerun that found its pull request and every file in place changed nothing.
    status = "unchanged" if detail["pull_request"] == "reused" and changed == 0 else "succeeded"
    return OperationResult(status=status, detail=detail)


async def _open_pull(gh: GitHub, where: dict[str, str], owner: str, branch: str, base: str) -> dict[str, Any] | None:
    pulls = await attempt(
        "listing pull requests",
        gh.getitem(
            "/repos/{owner}/{repo}/pulls{?state,head,base}",
            {**where, "state": "open", "head": f"{owner}:{branch}", "base": base},
        ),
    )
    return json_dict(pulls[0]) if isinstance(pulls, list) and pulls else None


async def _branch_sha(gh: GitHub, where: dict[str, str], branch: str) -> str | None:
    try:
        ref = await gh.getitem("/repos/{owner}/{repo}/git/ref/heads/{+branch}", {**where, "branch": branch})
    except Exception as err:
        if is_status(err, 404):
            return None
        raise translate(err, f"reading branch {branch}") from None
    return str(json_dict(json_dict(ref).get("object")).get("sha")) or None


async def _create_branch(gh: GitHub, where: dict[str, str], branch: str, sha: str) -> bool:
    """Create the branch at `sha`; False when it already existed."""
    try:
        await gh.post("/repos/{owner}/{repo}/git/refs", where, data={"ref": f"refs/heads/{branch}", "sha": sha})
    except Exception as err:
        if is_status(err, 422, "already exists"):  # an earlier attempt made it; its answer was lost
            return False
        raise translate(err, f"creating branch {branch}") from None
    return True


async def _read_file(gh: GitHub, where: dict[str, str], path: str, ref: str) -> tuple[bytes | None, str | None]:
    """The file's bytes and blob sha on `ref`, or (None, None) when it does not exist there."""
    try:
        found = json_dict(
            await gh.getitem("/repos/{owner}/{repo}/contents/{+path}{?ref}", {**where, "path": path, "ref": ref})
        )
    except Exception as err:
        if is_status(err, 404):
            return None, None
        raise translate(err, f"reading {path} on {ref}") from None
    if found.get("type") != "file":
        raise TargetError(f"{path} on {ref} is a {found.get('type', 'directory')}, not a file")
    try:
        data = base64.b64decode(str(found.get("content", "")))
    except (binascii.Error, ValueError):
        raise TargetError(f"{path} on {ref}: GitHub sent content that is not base64") from None
    return data, str(found.get("sha"))


async def _read_files(
    gh: GitHub, where: dict[str, str], params: Params, ref: str
) -> dict[str, tuple[bytes | None, str | None]]:
    return {spec.path: await _read_file(gh, where, spec.path, ref) for spec in params.files}


async def _put_file(
    gh: GitHub,
    where: dict[str, str],
    spec: FileSpec,
    branch: str,
    message: str,
    current: tuple[bytes | None, str | None],
) -> int:
    """Create or update one file on the branch, given what it holds now; 0 when it is already identical."""
    data, sha = current
    wanted = spec.content.encode()
    if data == wanted:
        return 0
    body: dict[str, Any] = {"message": message, "content": base64.b64encode(wanted).decode(), "branch": branch}
    if sha is not None:
        body["sha"] = sha
    doing = f"writing {spec.path} on {branch}"
    try:
        await gh.put("/repos/{owner}/{repo}/contents/{+path}", {**where, "path": spec.path}, data=body)
    except Exception as err:
        # The file changed since it was read (the base moved before the branch was made from it, or someone
        # pushed): a later attempt reads it again.
        if is_status(err, 409, "does not match") or is_status(err, 422, '"sha" wasn'):
            raise TransientError(f"{doing}: the file changed since it was read ({translate(err, doing)})") from None
        raise translate(err, doing) from None
    return 1


async def _create_pull(
    gh: GitHub, where: dict[str, str], owner: str, params: Params, branch: str, base: str, marker: str
) -> tuple[dict[str, Any] | None, bool]:
    """Open the pull request (True), or take one that appeared meanwhile (False); None when the branch adds nothing."""
    text = f"{params.body}\n\n{marker}" if params.body else marker
    body = {"title": params.title, "head": branch, "base": base, "body": text, "draft": params.draft}
    try:
        pull = json_dict(await gh.post("/repos/{owner}/{repo}/pulls", where, data=body))
    except Exception as err:
        if is_status(err, 422, "already exists"):
            return await _open_pull(gh, where, owner, branch, base), False
        if is_status(err, 422, "no commits between"):
            return None, False
        raise translate(err, f"opening a pull request from {branch} to {base}") from None
    return pull, True


async def _label(gh: GitHub, where: dict[str, str], pull: dict[str, Any], labels: list[str]) -> int:
    have = {str(json_dict(label).get("name")) for label in pull.get("labels") or []}
    missing = [label for label in labels if label not in have]
    if not missing:
        return 0
    await attempt(
        "labelling the pull request",
        gh.post(
            "/repos/{owner}/{repo}/issues/{number}/labels",
            {**where, "number": str(pull.get("number"))},
            data={"labels": missing},
        ),
    )
    return 1
