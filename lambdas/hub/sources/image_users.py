"""`image-users`: the ECS services whose containers run the pushed image, from the image index, or from a
live scan when the index is empty or older than `index_max_age_minutes` (the run summary says which).

Services of this account keep their `cluster/service` ids; another account's (image_push.accounts) carry
`account` and `region`, so the spoke restarts them there under the cross-account role, and ids
`<account>/<region>/<cluster>/<service>` that no service of another place can take. An account x region the
scan cannot reach does not stop the run: the services found elsewhere are restarted, and the run's notes name
the place and why under `unreachable` (a push is a one-off event: holding back every restart because one
account lacks its role would redeploy nothing).

`platform: kubernetes` finds the Kubernetes workloads instead (Deployments, StatefulSets, DaemonSets of the EKS
clusters image_push.eks_clusters names, in image_push.accounts x regions; shared.kube_images), for
k8s-rollout-restart: targets {"id": "<account>/<region>/<cluster>/<namespace>/<kind>/<name>", "account", "region",
"cluster", "namespace", "kind", "workload", "image", "digest"}. A cluster whose API refuses HubSpoke's role (no access
entry) is named under `unreachable` as `<account>/<region>/<cluster>`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import credentials
from shared.credentials import CrossAccount
from shared.ecs_images import FleetScan, ImageIndex, Push, ServiceImages, eks_scan, places
from shared.errors import InvalidRunRequest

if TYPE_CHECKING:
    from shared.sources import SourceContext

NAME = "image-users"


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["image-users"]
    repository: str = Field(min_length=2, max_length=256, pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    tag: str | None = Field(default=None, max_length=300)
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    registry: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    # ecs: the ECS services (ecs-restart); kubernetes: the EKS clusters' workloads (k8s-rollout-restart).
    platform: Literal["ecs", "kubernetes"] = "ecs"


def origin(spec: Spec) -> str:
    return f"image {spec.repository}:{spec.tag or ''}@{spec.digest or ''}"


def discover(spec: Spec, ctx: SourceContext) -> list[Any]:
    cfg = ctx.deployment
    if spec.platform == "kubernetes" and not cfg.eks_clusters:
        raise InvalidRunRequest(
            ["source.platform: kubernetes, but this deployment indexes no EKS cluster (set image_push.eks_clusters)"]
        )
    push = Push(spec.repository, spec.tag, spec.digest, spec.registry, spec.region)
    index = ImageIndex(ctx.dynamodb, cfg.image_index_table)
    meta = index.meta()
    age_minutes = None if meta is None else (time.time() - int(meta["scanned_at"])) / 60
    services: list[ServiceImages]
    if meta is None or age_minutes is None or age_minutes > cfg.index_max_age_minutes:
        why = "the index is empty" if age_minutes is None else f"the index is {age_minutes:.0f} minutes old"
        scanned = "Kubernetes" if spec.platform == "kubernetes" else "ECS"
        ctx.notes["discovery"] = f"scanned {scanned} live: {why} (max {cfg.index_max_age_minutes})"
        fleet = _fleet(ctx, kubernetes=spec.platform == "kubernetes")
        services = list(fleet.services())
        unreachable = fleet.unreachable
    else:
        ctx.notes["discovery"] = f"image index, scanned {age_minutes:.0f} minutes ago"
        services = list(index.services(spec.repository))
        unreachable = dict(meta.get("unreachable") or {})
    if unreachable:
        # Their services (if any run the image) are not targets of this run.
        ctx.notes["unreachable"] = unreachable
    targets = []
    for svc in services:
        if svc.is_workload != (spec.platform == "kubernetes"):
            continue  # the other platform's, restarted by its own run
        matched = [image for image in svc.images if push.matches(image)]
        if not matched:
            continue
        if svc.is_workload:
            targets.append(_workload_target(svc, matched[0], spec.digest))
            continue
        cluster_name = svc.cluster.rsplit("/", 1)[-1]
        # cluster/service: the same service name runs in several clusters; another account's place before it.
        target_id = f"{cluster_name}/{svc.service}"
        where = {}
        if svc.account is not None:
            target_id = f"{svc.account}/{svc.region}/{target_id}"
            where = {"account": svc.account, "region": svc.region}
        if svc.status != "ACTIVE":
            ctx.notes.setdefault("skipped", []).append(f"{target_id} ({svc.status})")
            continue
        targets.append(
            {
                "id": target_id,
                "cluster": svc.cluster,
                "service": svc.service,
                "service_arn": svc.service_arn,
                "image": matched[0],
                "digest": spec.digest,
                **where,
            }
        )
    return targets


def _workload_target(svc: ServiceImages, image: str, digest: str | None) -> dict[str, Any]:
    """A Kubernetes workload as k8s-rollout-restart's target."""
    cluster = svc.cluster.rsplit("/", 1)[-1]
    return {
        "id": f"{svc.account}/{svc.region}/{cluster}/{svc.namespace}/{svc.kind}/{svc.service}",
        "account": svc.account,
        "region": svc.region,
        "cluster": cluster,
        "namespace": svc.namespace,
        "kind": svc.kind,
        "workload": svc.service,
        "image": image,
        "digest": digest,
    }


def _fleet(ctx: SourceContext, kubernetes: bool = False) -> FleetScan:
    """This account's clusters and every image_push account x region, other accounts under their role; with
    `kubernetes`, their EKS clusters' workloads too."""
    cfg = ctx.deployment
    cross = CrossAccount.from_env(cfg)
    workloads_in = eks_scan(cfg.eks_clusters, cross, ctx.run_id, NAME) if kubernetes else None

    def ecs_in(account: str, region: str) -> Any:
        return credentials.in_account(account, region, ctx.run_id, NAME, cross).client("ecs")

    own = ctx.ecs
    return FleetScan(
        places(cfg.image_push_accounts, cfg.image_push_regions, own.meta.region_name),
        cfg.ecs_clusters,
        own,
        ecs_in,
        workloads_in=workloads_in,
        ecs=not kubernetes,
    )
