"""`github-org`: the repositories of a GitHub organization or user, paginated, filtered.

Archived repositories and forks are left out unless asked for (an archived repository accepts no change;
a fork is usually someone's copy). Each target is {"id": "owner/name", "repo", "default_branch"}.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import CredentialsError, InvalidRunRequest, TargetNotFoundError

if TYPE_CHECKING:
    from shared.github import GitHub
    from shared.sources import SourceContext

NAME = "github-org"
_LOGIN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["github-org"]
    org: str = Field(pattern=_LOGIN)
    owner_type: Literal["org", "user"] = "org"
    # Shell-style pattern on the repository name (not the owner), e.g. "service-*".
    name_pattern: str | None = Field(default=None, min_length=1, max_length=200)
    # Every listed topic must be on the repository.
    topics: list[str] = Field(default_factory=list, max_length=20)
    # Repository names (without the owner): only these / never these.
    include: list[str] = Field(default_factory=list, max_length=10000)
    exclude: list[str] = Field(default_factory=list, max_length=10000)
    include_archived: bool = False
    include_forks: bool = False


def origin(spec: Spec) -> str:
    return f"github {spec.owner_type} {spec.org}"


def keep(spec: Spec, repo: dict[str, Any]) -> str | None:
    """Why the repository is left out, or None to keep it."""
    name = str(repo.get("name", ""))
    if spec.include and name not in spec.include:
        return "not included"
    if name in spec.exclude:
        return "excluded"
    if spec.name_pattern and not fnmatch.fnmatchcase(name, spec.name_pattern):
        return "name"
    if repo.get("archived") and not spec.include_archived:
        return "archived"
    if repo.get("fork") and not spec.include_forks:
        return "fork"
    if not set(spec.topics) <= set(repo.get("topics") or []):
        return "topics"
    return None


def discover(spec: Spec, ctx: SourceContext) -> list[Any]:
    # The client on first use only: the hub's cold start does not pay for it on other sources' runs.
    from shared.github import attempt, json_dict, run_with_github

    url = "/orgs/{owner}/repos{?type,per_page}" if spec.owner_type == "org" else "/users/{owner}/repos{?type,per_page}"

    async def listing(gh: GitHub) -> list[dict[str, Any]]:
        # gidgethub's getiter follows the Link header's rel="next" page by page.
        return [json_dict(r) async for r in gh.getiter(url, {"owner": spec.org, "type": "all", "per_page": "100"})]

    try:
        repos = run_with_github(
            ctx.deployment, lambda gh: attempt(f"listing the repositories of {spec.org}", listing(gh))
        )
    except TargetNotFoundError:
        raise InvalidRunRequest([f"source.org: no {spec.owner_type} '{spec.org}' visible to the token"]) from None
    except CredentialsError as err:
        raise InvalidRunRequest([f"source: {err}"]) from None
    targets: list[dict[str, Any]] = []
    left_out: dict[str, int] = {}
    for repo in repos:
        why = keep(spec, repo)
        if why is not None:
            left_out[why] = left_out.get(why, 0) + 1
            continue
        full_name = str(repo.get("full_name"))
        targets.append({"id": full_name, "repo": full_name, "default_branch": repo.get("default_branch")})
    ctx.notes.update(github={"listed": len(repos), "selected": len(targets), "left_out": left_out})
    return targets
