"""`ecs-clusters`: the ECS clusters of many accounts and regions, each one target, filtered by name and tags.

    {"type": "ecs-clusters", "accounts": ["210987654321"], "regions": ["eu-west-1"],
     "name_pattern": "prod-*", "tags": {"tier": "prod"}}

Every account x region is listed through HubSpoke's target role there (shared.credentials.in_account): the hub's
own account too, when it is listed, so the hub needs no ECS grant of its own. `organization: true` lists the
organization's ACTIVE accounts instead (AWS Organizations ListAccounts, with the hub's own credentials: the hub
must run in the management account or a delegated administrator account). A new cluster is found on the next run.

Each target: {"id": "<account>/<region>/<cluster>", "account", "region", "cluster", "cluster_arn"}, sorted by id.
An account x region the hub cannot reach refuses the run, naming it, unless `skip_unreachable` leaves it out (the
run summary's notes name it).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.credentials import CrossAccount, in_account
from shared.errors import (
    AWS_THROTTLE_CODES,
    CredentialsError,
    InvalidRunRequest,
    RateLimitError,
    TransientError,
    aws_error_code,
    aws_error_message,
    is_retryable_aws_error,
)

if TYPE_CHECKING:
    from shared.sources import SourceContext

NAME = "ecs-clusters"
ACCOUNT = r"^[0-9]{12}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
DESCRIBE_BATCH = 100  # DescribeClusters takes at most 100 clusters per call
LIST_PAGE = 100  # ListClusters' largest page
ORG_PAGE = 20  # ListAccounts' largest page
MAX_NAMED = 20  # places named in a refusal or in the notes; the count says how many there are
# An ECS call refused in one account x region: the role lacks the action, or the region is not enabled there (an
# opt-in region answers the assumed role's token as unrecognized).
_REFUSED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "UnauthorizedOperation",
}
# ListAccounts refused: no organization, or the hub's account is neither its management account nor a delegated
# administrator (AccessDeniedException), or the hub's role lacks organizations:ListAccounts (AccessDenied...).
_ORG_REFUSED = {"AWSOrganizationsNotInUseException", "AccessDeniedException", "AccessDenied"}

Account = Annotated[str, Field(pattern=ACCOUNT)]
Region = Annotated[str, Field(pattern=REGION)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ecs-clusters"]
    accounts: list[Account] | None = Field(default=None, min_length=1, max_length=1000)
    regions: list[Region] = Field(min_length=1, max_length=50)
    # After `accounts`, so its check sees them (exactly one of the two).
    organization: bool = Field(default=False, validate_default=True)
    # Shell-style pattern on the cluster name, case-sensitive (fnmatchcase): "prod-*", "*-eu-?".
    name_pattern: str = Field(default="*", min_length=1, max_length=255)
    # Every tag listed must be on the cluster with this value.
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=50
    )
    # Leave out an account x region the hub cannot reach (said in the notes) instead of refusing the run.
    skip_unreachable: bool = False

    @field_validator("accounts", "regions")
    @classmethod
    def _each_once(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            twice = sorted({v for v in value if value.count(v) > 1})
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return value

    @field_validator("organization")
    @classmethod
    def _accounts_or_organization(cls, value: bool, info: ValidationInfo) -> bool:
        if "accounts" not in info.data:
            return value  # accounts itself was invalid: that problem is named already
        listed = info.data["accounts"] is not None
        if listed and value:
            raise ValueError("give either accounts or organization: true, not both")
        if not listed and not value:
            raise ValueError("give accounts (a list of account ids) or organization: true")
        return value


def origin(spec: Spec) -> str:
    return "ecs clusters of " + ("the organization" if spec.organization else f"{len(spec.accounts or [])} accounts")


class _UnreachableError(Exception):
    """An account x region the hub cannot list (the reason is the message)."""


@dataclass
class _Tally:
    listed: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)

    def leave_out(self, why: str) -> None:
        self.left_out[why] = self.left_out.get(why, 0) + 1


def discover(spec: Spec, ctx: SourceContext) -> list[Any]:
    def listed(account: str, region: str, cross: CrossAccount, tally: _Tally) -> list[dict[str, Any]]:
        ecs = in_account(account, region, ctx.run_id, NAME, cross).client("ecs")
        targets = []
        for cluster in _clusters(ecs):
            tally.listed += 1
            why = _left_out_because(spec, cluster)
            if why is not None:
                tally.leave_out(why)
                continue
            name = str(cluster["clusterName"])
            targets.append(
                {
                    "id": f"{account}/{region}/{name}",
                    "account": account,
                    "region": region,
                    "cluster": name,
                    "cluster_arn": str(cluster["clusterArn"]),
                }
            )
        return targets

    return discover_places(spec, ctx, listed, "ecs_clusters")


# Lists one account x region's targets under the role there (CredentialsError: AssumeRole refused; _UnreachableError:
# the service refused the role), counting what it listed and left out in the tally.
PlaceLister = Callable[[str, str, CrossAccount, "_Tally"], list[dict[str, Any]]]


def discover_places(spec: Spec, ctx: SourceContext, listed: PlaceLister, notes_key: str) -> list[Any]:
    """Every account x region of the spec through HubSpoke's role there (the accounts given, or the organization's),
    the targets sorted by id; an unreachable place refuses the run unless `skip_unreachable`. Shared by the
    clusters sources (ecs-clusters, eks-clusters)."""
    cross = CrossAccount.from_env(ctx.deployment)
    where = "source.organization" if spec.organization else "source.accounts"
    accounts = organization_accounts(ctx, cross, notes_key) if spec.organization else list(spec.accounts or [])
    tally = _Tally()
    targets: list[dict[str, Any]] = []
    for account in sorted(accounts):
        refused: str | None = None  # AssumeRole refused: every region of the account is, without asking again
        for region in spec.regions:
            if refused is not None:
                tally.unreachable.append(f"{account}/{region}: {refused}")
                continue
            try:
                # Both raise CredentialsError: an account the deployment may not reach, a refused AssumeRole.
                targets.extend(listed(account, region, cross, tally))
            except CredentialsError as err:
                refused = str(err)
                tally.unreachable.append(f"{account}/{region}: {refused}")
                continue
            except _UnreachableError as err:
                tally.unreachable.append(f"{account}/{region}: {err}")
                continue
    if tally.unreachable and not spec.skip_unreachable:
        shown = [f"{where}: cannot reach {place}" for place in tally.unreachable[:MAX_NAMED]]
        more = len(tally.unreachable) - MAX_NAMED
        hint = (
            "give each account the HubSpoke target role, or leave what is unreachable out with skip_unreachable: true"
        )
        raise InvalidRunRequest([*shown, *([f"... and {more} more"] if more > 0 else []), f"{where}: {hint}"])
    targets.sort(key=lambda t: str(t["id"]))
    notes: dict[str, Any] = {
        "accounts": len(accounts),
        "regions": len(spec.regions),
        "listed": tally.listed,
        "selected": len(targets),
        "left_out": tally.left_out,
    }
    if tally.unreachable:
        notes["unreachable"] = len(tally.unreachable)
        notes["skipped"] = tally.unreachable[:MAX_NAMED]
    ctx.notes[notes_key] = {**ctx.notes.get(notes_key, {}), **notes}
    return targets


def _left_out_because(spec: Spec, cluster: dict[str, Any]) -> str | None:
    """Why a described cluster is not a target, or None to keep it."""
    if cluster.get("status") != "ACTIVE":
        return "status"  # being created or deleted: no task can run on it
    if not fnmatch.fnmatchcase(str(cluster.get("clusterName", "")), spec.name_pattern):
        return "name"
    tags = {str(t.get("key")): str(t.get("value", "")) for t in cluster.get("tags") or []}
    if any(tags.get(key) != value for key, value in spec.tags.items()):
        return "tags"
    return None


def _clusters(ecs: Any) -> Iterator[dict[str, Any]]:
    """Every cluster of one account x region, described with its tags: ListClusters page by page, then
    DescribeClusters 100 at a time."""
    arns: list[str] = []
    with _aws_errors("ListClusters"):
        for page in ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": LIST_PAGE}):
            arns.extend(page.get("clusterArns", []))
    for start in range(0, len(arns), DESCRIBE_BATCH):
        with _aws_errors("DescribeClusters"):
            described = ecs.describe_clusters(clusters=arns[start : start + DESCRIBE_BATCH], include=["TAGS"])
        # A cluster deleted since the listing comes back under `failures` (MISSING): it is simply gone.
        yield from described.get("clusters", [])


@contextmanager
def place_errors(service: str, operation: str, grants: str) -> Iterator[None]:
    """Maps an error of one account x region's `service` (ECS, EKS): a refusal makes the place unreachable (the
    message names the target role's `grants`), a throttle is a RateLimitError, a fault a TransientError (the state
    machine retries the hub); anything else propagates."""
    try:
        yield
    except ClientError as err:
        code, message = aws_error_code(err), aws_error_message(err)
        if code in AWS_THROTTLE_CODES:
            raise RateLimitError(f"{service} {operation}: throttled ({code})") from None
        if code in _REFUSED:
            raise _UnreachableError(
                f"{service} {operation} refused ({code}: {message}): give the HubSpoke target role {grants}, "
                "and enable the region in the account"
            ) from None
        if is_retryable_aws_error(err):
            raise TransientError(f"{service} {operation}: {code}: {message}") from None
        raise
    except BotoCoreError as err:
        raise TransientError(f"{service} {operation}: {type(err).__name__}") from None


def _aws_errors(operation: str) -> AbstractContextManager[None]:
    """ECS's errors of one place (place_errors)."""
    return place_errors("ECS", operation, "ecs:ListClusters and ecs:DescribeClusters")


def organization_accounts(ctx: SourceContext, cross: CrossAccount, notes_key: str = "ecs_clusters") -> list[str]:
    """The organization's ACTIVE accounts (ListAccounts, paginated, the hub's own credentials), within the
    deployment's cross_account.accounts when it lists any."""
    organizations = ctx.clients("organizations") if ctx.clients is not None else None
    if organizations is None:
        raise InvalidRunRequest(["source.organization: this hub has no AWS clients to list the organization with"])
    found: list[dict[str, Any]] = []
    try:
        for page in organizations.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": ORG_PAGE}):
            found.extend(page.get("Accounts", []))
    except ClientError as err:
        code = aws_error_code(err)
        if code in AWS_THROTTLE_CODES:
            raise RateLimitError(f"Organizations ListAccounts: throttled ({code})") from None
        if code in _ORG_REFUSED:
            raise InvalidRunRequest(
                [
                    f"source.organization: AWS Organizations refused ListAccounts ({code}): run the hub in the "
                    "organization's management account or a delegated administrator account, or list the "
                    "accounts in source.accounts"
                ]
            ) from None
        if is_retryable_aws_error(err):
            raise TransientError(f"Organizations ListAccounts: {code}") from None
        raise
    except BotoCoreError as err:
        raise TransientError(f"Organizations ListAccounts: {type(err).__name__}") from None
    # `State` replaced `Status` in 2025; either says whether the account is open (not suspended, not closing).
    active = sorted({str(a["Id"]) for a in found if (a.get("State") or a.get("Status")) == "ACTIVE"})
    if not active:
        # An organization always holds its management account: none at all means the hub sees no organization.
        raise InvalidRunRequest(
            [
                "source.organization: ListAccounts named no ACTIVE account: run the hub in the organization's "
                "management account or a delegated administrator account, or list the accounts in source.accounts"
            ]
        )
    allowed = [a for a in active if not cross.accounts or a in cross.accounts]
    ctx.notes[notes_key] = {
        "organization_accounts": len(active),
        **({"outside_cross_account_accounts": len(active) - len(allowed)} if len(allowed) < len(active) else {}),
    }
    return allowed
