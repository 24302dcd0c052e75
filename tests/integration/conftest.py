"""Handlers on moto: the ledger table is built from the template's own KeySchema, so tests follow the stack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

import shared.aws
import shared.caches
import shared.config
from shared.ledger import Ledger
from spoke.operations.ecs_restart import _restart_once
from tests.envs import VARIABLES

BUCKET = "hubspoke-test"
TABLE = "ledger-test"
INDEX_TABLE = "image-index-test"
IDEMPOTENCY_TABLE = "idempotency-test"


@dataclass
class Aws:
    s3: Any
    dynamodb: Any
    ledger: Ledger

    def rows(self, run_id: str) -> dict[str, Any]:
        return {r.target_id: r for page in self.ledger.pages(run_id) for r in page}

    def keys(self, prefix: str = "") -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


@pytest.fixture
def aws(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    tables = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
    ledger_id = template["Outputs"]["LedgerTableName"]["Value"]["Ref"]
    index_id = next(k for k in tables if k.startswith("StorageImageIndex"))
    idempotency_id = next(k for k in tables if k.startswith("StorageIdempotency"))
    names = {ledger_id: TABLE, index_id: INDEX_TABLE, idempotency_id: IDEMPOTENCY_TABLE}
    for name, value in {
        **VARIABLES,
        "LEDGER_TABLE": TABLE,
        "BUCKET_NAME": BUCKET,
        "IMAGE_INDEX_TABLE": INDEX_TABLE,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "HubSpoke")
    shared.caches.reset_all()
    shared.aws.client.cache_clear()
    _restart_once.cache_clear()
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        for logical_id, name in names.items():
            props = tables[logical_id]
            # With its global secondary indexes (the ledger's failed-row index): without them the index's key
            # attribute is an unused definition, which DynamoDB (and moto) refuse.
            indexes = {key: props[key] for key in ("GlobalSecondaryIndexes",) if key in props}
            dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props["BillingMode"],
                **indexes,
            )
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield Aws(s3=s3, dynamodb=dynamodb, ledger=Ledger(dynamodb, TABLE))
    shared.caches.reset_all()
    shared.aws.client.cache_clear()


class Context:
    """The Lambda context attributes Powertools reads."""

    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"
    function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def context() -> Context:
    return Context()
