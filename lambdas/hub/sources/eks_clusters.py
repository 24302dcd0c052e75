"""`eks-clusters`: the EKS clusters of many accounts and regions, each one target, filtered by name and tags.

    {"type": "eks-clusters", "accounts": ["210987654321"], "regions": ["eu-west-1"],
     "name_pattern": "prod-*", "tags": {"tier": "prod"}}

The same account x region path as `ecs-clusters` (hub.sources.ecs_clusters.discover_places): every place through
HubSpoke's target role there (eks:ListClusters, eks:DescribeCluster), or `organization: true`, `skip_unreachable`.
A new cluster is found on the next run.

Each target: {"id": "<account>/<region>/<cluster>", "account", "region", "cluster", "cluster_arn", "endpoint",
"version"}, sorted by id. The endpoint is for people reading the plan: an operation that sends the role's token to a
cluster asks DescribeCluster for the endpoint and CA itself, so a target written by hand (a static source) can never
send a token elsewhere.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from hub.sources import ecs_clusters
from hub.sources.ecs_clusters import _Tally, discover_places, place_errors
from shared.credentials import CrossAccount, in_account
from shared.errors import aws_error_code

if TYPE_CHECKING:
    from shared.sources import SourceContext

NAME = "eks-clusters"
NOTES = "eks_clusters"
LIST_PAGE = 100  # ListClusters' largest page (maxResults 1-100)
# A cluster whose Kubernetes API serves requests: UPDATING is a version or configuration change in place.
SERVING = {"ACTIVE", "UPDATING"}


class Spec(ecs_clusters.Spec):
    """As ecs-clusters' (accounts or organization, regions, name_pattern, tags, skip_unreachable)."""

    type: Literal["eks-clusters"]  # type: ignore[assignment]  # the same fields under another name


def origin(spec: Spec) -> str:
    return "eks clusters of " + ("the organization" if spec.organization else f"{len(spec.accounts or [])} accounts")


def discover(spec: Spec, ctx: SourceContext) -> list[Any]:
    def listed(account: str, region: str, cross: CrossAccount, tally: _Tally) -> list[dict[str, Any]]:
        eks = in_account(account, region, ctx.run_id, NAME, cross).client("eks")
        targets = []
        for name in _names(eks):
            tally.listed += 1
            # The name first: a cluster it leaves out costs no DescribeCluster call.
            if not fnmatch.fnmatchcase(name, spec.name_pattern):
                tally.leave_out("name")
                continue
            cluster = _describe(eks, name)
            if cluster is None:
                tally.leave_out("gone")  # deleted between the listing and the describe
                continue
            why = _left_out_because(spec, cluster)
            if why is not None:
                tally.leave_out(why)
                continue
            targets.append(
                {
                    "id": f"{account}/{region}/{name}",
                    "account": account,
                    "region": region,
                    "cluster": name,
                    "cluster_arn": str(cluster["arn"]),
                    "endpoint": str(cluster.get("endpoint") or ""),
                    "version": str(cluster.get("version") or ""),
                }
            )
        return targets

    return discover_places(spec, ctx, listed, NOTES)


def _left_out_because(spec: Spec, cluster: dict[str, Any]) -> str | None:
    """Why a described cluster is not a target, or None to keep it."""
    if cluster.get("status") not in SERVING:
        return "status"  # CREATING, DELETING, FAILED, PENDING: no API server to talk to
    tags = {str(k): str(v) for k, v in (cluster.get("tags") or {}).items()}
    if any(tags.get(key) != value for key, value in spec.tags.items()):
        return "tags"
    return None


def _names(eks: Any) -> Iterator[str]:
    """Every cluster name of one account x region (ListClusters page by page)."""
    names: list[str] = []
    with _aws_errors("ListClusters"):
        for page in eks.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": LIST_PAGE}):
            names.extend(page.get("clusters", []))
    yield from names


def _describe(eks: Any, name: str) -> dict[str, Any] | None:
    """DescribeCluster (with its tags); None when the cluster is gone."""
    with _aws_errors("DescribeCluster"):
        try:
            found: dict[str, Any] = eks.describe_cluster(name=name)["cluster"]
        except ClientError as err:
            if aws_error_code(err) == "ResourceNotFoundException":
                return None
            raise
    return found


def _aws_errors(operation: str) -> AbstractContextManager[None]:
    """EKS's errors of one place (ecs_clusters.place_errors)."""
    return place_errors("EKS", operation, "eks:ListClusters and eks:DescribeCluster")
