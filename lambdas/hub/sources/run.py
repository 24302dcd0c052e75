"""`run`: the targets of an earlier run whose ledger rows have a given status (rerun the failed, or the lost).

Step Functions redrive cannot rerun them: every spoke failure is caught, so every Map child "succeeded". The
ledger knows which targets failed (`failed`) or never finished (`lost`: still `pending` after the run
ended); the earlier run's manifest holds those targets whole (their attributes, not only the id).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import InvalidRunRequest, aws_error_code

NAME = "run"
LEDGER_STATUS = {"failed": "failed", "lost": "pending"}  # the asked status -> the ledger row's status


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["run"]
    run_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")
    status: list[Literal["failed", "lost"]] = Field(default=["failed", "lost"], min_length=1)


def origin(spec: Spec) -> str:
    return f"run {spec.run_id}"


def discover(spec: Spec, ctx: Any) -> list[Any]:
    cfg = ctx.deployment
    wanted = {LEDGER_STATUS[s] for s in spec.status}
    ids = set(_ledger_ids(ctx.dynamodb, cfg.ledger_table, spec.run_id, wanted))
    if not ids:
        ctx.notes["rerun"] = f"no {' or '.join(spec.status)} targets in run {spec.run_id}"
        return []
    key = f"runs/{spec.run_id}/manifest.json"
    try:
        body = ctx.s3.get_object(Bucket=cfg.bucket, Key=key)["Body"].read()
    except ClientError as err:
        raise InvalidRunRequest(
            [f"source.run_id: cannot read the manifest of run {spec.run_id} ({aws_error_code(err)})"]
        ) from None
    targets = [t for t in json.loads(body) if isinstance(t, dict) and t.get("id") in ids]
    ctx.notes["rerun"] = f"{len(targets)} {' or '.join(spec.status)} targets of run {spec.run_id}"
    return targets


def _ledger_ids(dynamodb: Any, table: str, run_id: str, statuses: set[str]) -> list[str]:
    """Ids of the run's rows in `statuses`: one Query (paged), the filter applied by DynamoDB."""
    names = {":r": {"S": run_id}, **{f":s{i}": {"S": s} for i, s in enumerate(sorted(statuses))}}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "run_id = :r",
        "FilterExpression": f"#s IN ({', '.join(k for k in names if k != ':r')})",
        "ProjectionExpression": "target_id",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": names,
        "ConsistentRead": True,
    }
    ids: list[str] = []
    while True:
        try:
            page = dynamodb.query(**kwargs)
        except ClientError as err:
            raise InvalidRunRequest(
                [f"source.run_id: cannot read the ledger of run {run_id} ({aws_error_code(err)})"]
            ) from None
        ids.extend(item["target_id"]["S"] for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return ids
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
