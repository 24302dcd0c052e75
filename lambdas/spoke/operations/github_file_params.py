"""`github-file-sync`'s params: their own module, so the operation (github_file_sync.py) and its requests
(github_pull_request.py) both import them without importing each other."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
