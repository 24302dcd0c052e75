"""`github-file-sync`: one pull request per repository that adds or updates the given files.

Idempotent, so a retry or a rerun never opens a second pull request: files already identical on the base are left
alone (`unchanged`, whatever branches exist), an existing branch is reused, an open pull request for the branch is
taken over: `opened` when an earlier attempt of this run made it, `reused` when it was there before. Protected
branches, archived repositories, missing permission and gone repositories are target errors (recorded, not
retried); rate limits and 5xx are RateLimitError / TransientError for Step Functions.

The requests themselves are in github_pull_request.py, imported on the first run: the GitHub client (gidgethub
and shared.github, about 10 ms measured after the handlers' own imports) stays out of the cold start of every
function that only needs the params model — the hub, the gate, and spokes of other operations.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.budget import Budget
from shared.config import config
from shared.models import OperationResult, SpokeInput

NAME = "github-file-sync"
# git check-ref-format, simplified: letters, digits, '.', '_', '-', '/'; see _check_branch for the rest.
_BRANCH = r"^[A-Za-z0-9._/-]{1,200}$"
_BAD_BRANCH = re.compile(r"^[-/.]|\.\.|//|/\.|\.lock$|/$|\.$")
_BAD_PATH_PART = re.compile(r"(^|/)\.{1,2}(/|$)")


class FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # No control characters, and no '?' or '#', which would end the path part of the contents URL.
    path: str = Field(min_length=1, max_length=400, pattern=r"^[^/\x00-\x1f?#][^\x00-\x1f?#]*$")
    content: str = Field(max_length=24 * 1024)

    @field_validator("path")
    @classmethod
    def _no_dot_segments(cls, value: str) -> str:
        if _BAD_PATH_PART.search(value) or value.endswith("/"):
            raise ValueError("must be a file path inside the repository (no '.', '..' or trailing '/')")
        return value


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[FileSpec] = Field(min_length=1, max_length=20)
    branch: str = Field(pattern=_BRANCH)
    title: str = Field(min_length=1, max_length=256)
    body: str = Field(default="", max_length=8192)
    labels: list[str] = Field(default_factory=list, max_length=10)
    draft: bool = False
    commit_message: str | None = Field(default=None, min_length=1, max_length=1024)
    # The branch the pull request targets; default: the repository's default branch.
    base: str | None = Field(default=None, pattern=_BRANCH)

    @field_validator("branch", "base")
    @classmethod
    def _check_branch(cls, value: str | None) -> str | None:
        if value is not None and _BAD_BRANCH.search(value):
            raise ValueError("is not a valid branch name (git check-ref-format)")
        return value

    @model_validator(mode="after")
    def _paths_unique(self) -> Params:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files: each path at most once")
        if self.base is not None and self.base == self.branch:
            raise ValueError("branch: must differ from base")
        return self


def requests_per_target(params: Params) -> int:
    """GitHub requests one target costs at most: the repository, its open pull requests, the branch, each
    file on the base, the base's head, the new branch, each file read and written on the branch, the pull
    request (and a second look when it already exists), the labels."""
    return 7 + 3 * len(params.files) + (1 if params.labels else 0)


def default_max_concurrency() -> int:
    return config().github_max_concurrency


def budget() -> Budget:
    """The token's GitHub budget, for the rate-limit gate."""
    from shared.github import rate_budget  # the client on first use only (module docstring)

    return rate_budget()


def run(params: Params, item: SpokeInput) -> OperationResult:
    """Sync the files into one pull request on the target's repository."""
    from shared.github import repo_parts, run_with_github  # the client on first use only (module docstring)
    from spoke.operations.github_pull_request import sync

    full_name = str(getattr(item.target, "repo", None) or item.target.id)
    repo_parts(full_name)  # a malformed name fails before any request (and before reading the token)
    return run_with_github(lambda gh: sync(gh, params, full_name, item.run.run_id))
