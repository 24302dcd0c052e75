"""`image-users`: the ECS services whose containers run the pushed image, from the image index, or from a
live scan when the index is empty or older than `index_max_age_minutes` (the run summary says which)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.ecs_images import ImageIndex, Push, ServiceImages, scan

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


def origin(spec: Spec) -> str:
    return f"image {spec.repository}:{spec.tag or ''}@{spec.digest or ''}"


def discover(spec: Spec, ctx: SourceContext) -> list[Any]:
    cfg = ctx.deployment
    push = Push(spec.repository, spec.tag, spec.digest, spec.registry, spec.region)
    index = ImageIndex(ctx.dynamodb, cfg.image_index_table)
    last_scan = index.last_scan()
    age_minutes = None if last_scan is None else (time.time() - last_scan) / 60
    services: list[ServiceImages]
    if age_minutes is None or age_minutes > cfg.index_max_age_minutes:
        why = "the index is empty" if age_minutes is None else f"the index is {age_minutes:.0f} minutes old"
        ctx.notes["discovery"] = f"scanned ECS live: {why} (max {cfg.index_max_age_minutes})"
        services = list(scan(ctx.ecs, cfg.ecs_clusters))
    else:
        ctx.notes["discovery"] = f"image index, scanned {age_minutes:.0f} minutes ago"
        services = list(index.services(spec.repository))
    targets = []
    for svc in services:
        matched = [image for image in svc.images if push.matches(image)]
        if not matched:
            continue
        cluster_name = svc.cluster.rsplit("/", 1)[-1]
        if svc.status != "ACTIVE":
            # cluster/service, as target ids are: the same service name runs in several clusters.
            ctx.notes.setdefault("skipped", []).append(f"{cluster_name}/{svc.service} ({svc.status})")
            continue
        targets.append(
            {
                "id": f"{cluster_name}/{svc.service}",
                "cluster": svc.cluster,
                "service": svc.service,
                "service_arn": svc.service_arn,
                "image": matched[0],
                "digest": spec.digest,
            }
        )
    return targets
