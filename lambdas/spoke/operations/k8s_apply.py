"""`k8s-apply`: server-side apply of one or more manifests into each target EKS cluster.

Field manager `hubspoke`, `force` off unless the params say so. Every manifest is first applied as a server-side
dry run, so a conflict with another field manager fails the target naming the field and the manager before any
manifest of it is written. `dry_run` stops there and records the diff the apply would make. Idempotent by
nature: a rerun changes nothing and the target is `unchanged`; the ledger's detail lists what changed.

Target: {"id": "<account>/<region>/<cluster>", "account", "region", "cluster", ...} (the eks-clusters source).
The endpoint and CA always come from DescribeCluster in the target's account, never from the target's own
fields: a target list is input, and a token of the account's role must go only to that account's cluster. The
token is signed under the target account's HubSpoke role (shared.eks_token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import TargetError
from shared.models import OperationResult, SpokeInput

if TYPE_CHECKING:
    from shared.config import HubEnv
    from shared.kube import Applied, KubeCluster
    from shared.operations import OperationContext

NAME = "k8s-apply"
MAX_MANIFESTS = 20
# A change is recorded as 'path: old -> new'; the ledger row (and the state payload) must stay small.
MAX_CHANGES_PER_OBJECT = 50
MAX_CHANGE_CHARS = 300


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    manifests: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_MANIFESTS)
    dry_run: bool = False
    force: bool = False

    @field_validator("manifests")
    @classmethod
    def _identified(cls, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, manifest in enumerate(manifests):
            meta = manifest.get("metadata")
            if not manifest.get("apiVersion") or not manifest.get("kind"):
                raise ValueError(f"manifests[{i}]: apiVersion and kind are required")
            if not isinstance(meta, dict) or not meta.get("name"):
                raise ValueError(f"manifests[{i}]: metadata.name is required")
        return manifests


# A plan's assumption: a dry run and an apply per manifest, a fraction of a second each.
SECONDS_PER_MANIFEST = 0.5


def spoke_seconds(params: Params, cfg: HubEnv) -> float:
    """Two requests per manifest (dry run, apply), plus the cluster's description and token."""
    return 1.0 + SECONDS_PER_MANIFEST * len(params.manifests)


def cluster_for(item: SpokeInput, ctx: OperationContext) -> KubeCluster:
    """The target's cluster, reached under its account's role."""
    from shared import kube

    target = item.target.model_dump()
    cluster = str(target.get("cluster", ""))
    if not cluster:
        raise TargetError("the target has no 'cluster' (use the eks-clusters source)")
    account = str(target.get("account") or ctx.target.account or "self")
    region = str(target.get("region") or "")
    # No endpoint from the target (see the module's docstring): DescribeCluster says where the cluster is.
    return kube.for_eks(ctx.target, account, region, cluster)


def _entry(applied: Applied) -> dict[str, Any]:
    changes = [c if len(c) <= MAX_CHANGE_CHARS else c[: MAX_CHANGE_CHARS - 1] + "…" for c in applied.changes]
    entry: dict[str, Any] = {
        "kind": applied.kind,
        "namespace": applied.namespace,
        "name": applied.name,
        "created": applied.created,
        "changes": changes[:MAX_CHANGES_PER_OBJECT],
    }
    if len(changes) > MAX_CHANGES_PER_OBJECT:
        entry["more_changes"] = len(changes) - MAX_CHANGES_PER_OBJECT
    return entry


def run(params: Params, item: SpokeInput, ctx: OperationContext) -> OperationResult:
    kube = cluster_for(item, ctx)
    # The dry run first: a conflict (FieldConflictError) fails the target before any manifest is written.
    planned = [kube.apply(m, dry_run=True, force=params.force) for m in params.manifests]
    changed = [p for p in planned if p.changed]
    detail: dict[str, Any] = {"cluster": kube.name, "dry_run": params.dry_run}
    if params.dry_run:
        detail["would_change"] = [_entry(p) for p in changed]
        return OperationResult(status="succeeded" if changed else "unchanged", detail=detail)
    if not changed:
        return OperationResult(status="unchanged", detail={**detail, "changed": []})
    applied = [kube.apply(m, force=params.force) for m in params.manifests]
    detail["changed"] = [_entry(a) for a in applied if a.changed]
    return OperationResult(status="succeeded" if detail["changed"] else "unchanged", detail=detail)
