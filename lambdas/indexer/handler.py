"""Indexer Lambda handler: scan the configured ECS clusters, rebuild the image index."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.aws import client
from shared.config import IndexerEnv, config
from shared.ecs_images import ImageIndex, scan
from shared.observability import emit_metric, logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: the schedule's (ignored)."""
    cfg = config(IndexerEnv)
    # Rows of a scan outlive it by three max ages, so a missed schedule or two never empties the index.
    ttl_seconds = cfg.index_max_age_minutes * 60 * 3
    rows = ImageIndex(client("dynamodb"), cfg.image_index_table).rebuild(
        scan(client("ecs"), cfg.ecs_clusters), ttl_seconds
    )
    emit_metric("IndexedImages", rows)
    logger.info("image index rebuilt", extra={"rows": rows, "clusters": list(cfg.ecs_clusters) or "all"})
    return {"rows": rows}
