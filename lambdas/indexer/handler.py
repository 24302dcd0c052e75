"""Indexer Lambda handler: scan the configured ECS clusters, here and in image_push.accounts, rebuild the image
index."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import credentials
from shared.aws import client
from shared.config import IndexerEnv, config
from shared.credentials import CrossAccount
from shared.ecs_images import FleetScan, ImageIndex, eks_scan, places
from shared.observability import emit_metric, logger, tracer

# Names the indexer's role sessions in CloudTrail (it serves no run); one session per account per warm container.
SESSION_RUN = "image-index"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: the schedule's (ignored)."""
    cfg = config(IndexerEnv)
    # Rows of a scan outlive it by three max ages, so a missed schedule or two never empties the index.
    ttl_seconds = cfg.index_max_age_minutes * 60 * 3
    ecs = client("ecs")
    cross = CrossAccount.from_env(cfg)

    def ecs_in(account: str, region: str) -> Any:
        return credentials.in_account(account, region, SESSION_RUN, "indexer", cross).client("ecs")

    fleet = FleetScan(
        places(cfg.image_push_accounts, cfg.image_push_regions, ecs.meta.region_name),
        cfg.ecs_clusters,
        ecs,
        ecs_in,
        workloads_in=eks_scan(cfg.eks_clusters, cross, SESSION_RUN, "indexer"),
    )
    rows = ImageIndex(client("dynamodb"), cfg.image_index_table).rebuild(
        fleet.services(), ttl_seconds, fleet.unreachable
    )
    emit_metric("IndexedImages", rows)
    emit_metric("IndexUnreachablePlaces", len(fleet.unreachable))
    if fleet.unreachable:
        logger.warning("image index lacks unreachable accounts/regions", extra={"unreachable": fleet.unreachable})
    logger.info(
        "image index rebuilt",
        extra={"rows": rows, "clusters": list(cfg.ecs_clusters) or "all", "places": len(fleet.places)},
    )
    return {"rows": rows, "unreachable": fleet.unreachable}
