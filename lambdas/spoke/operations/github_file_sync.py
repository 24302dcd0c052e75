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

from typing import TYPE_CHECKING

from shared.models import OperationResult, SpokeInput
from spoke.operations.github_file_params import FileSpec, Params

if TYPE_CHECKING:
    from shared.budget import Budget
    from shared.config import GitHubEnv, HubEnv
    from shared.operations import OperationContext

__all__ = [
    "NAME",
    "FileSpec",
    "Params",
    "budget",
    "default_max_concurrency",
    "requests_per_target",
    "run",
    "spoke_seconds",
]

NAME = "github-file-sync"


def requests_per_target(params: Params) -> int:
    """GitHub requests one target costs at most: the repository, its open pull requests, the branch, each
    file on the base, the base's head, the new branch, each file read and written on the branch, the pull
    request (and a second look when it already exists), the labels."""
    return 7 + 3 * len(params.files) + (1 if params.labels else 0)


# A plan's assumption: one GitHub REST request, with the client's pacing, takes this long.
SECONDS_PER_REQUEST = 0.3


def spoke_seconds(params: Params, env: HubEnv | None = None) -> float:
    """A plan's assumption: every request a target may cost (requests_per_target), SECONDS_PER_REQUEST each."""
    return SECONDS_PER_REQUEST * requests_per_target(params)


def default_max_concurrency(env: HubEnv) -> int:
    return env.github_max_concurrency


def budget(env: GitHubEnv) -> Budget:
    """The token's GitHub budget, for the rate-limit gate."""
    from shared.github import rate_budget  # the client on first use only (module docstring)

    return rate_budget(env)


def run(params: Params, item: SpokeInput, ctx: OperationContext) -> OperationResult:
    """Sync the files into one pull request on the target's repository."""
    from shared.github import repo_parts, run_with_github  # the client on first use only (module docstring)
    from spoke.operations.github_pull_request import sync

    full_name = str(getattr(item.target, "repo", None) or item.target.id)
    repo_parts(full_name)  # a malformed name fails before any request (and before reading the token)
    return run_with_github(ctx.env, lambda gh: sync(gh, params, full_name, item.run.run_id))
