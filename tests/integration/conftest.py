"""Handlers on moto: the ledger table is built from the template's own KeySchema, so tests follow the stack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

import shared.aws
import shared.config
from shared.ledger import Ledger

BUCKET = "hubspoke-test"
TABLE = "ledger-test"


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
    (table,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    props = table["Properties"]
    monkeypatch.setenv("LEDGER_TABLE", TABLE)
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("DEFAULT_MAX_CONCURRENCY", "10")
    monkeypatch.setenv("FAILURE_THRESHOLD_PERCENT", "0")
    monkeypatch.setenv("LEDGER_TTL_DAYS", "30")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "HubSpoke")
    shared.config.config.cache_clear()
    shared.aws.client.cache_clear()
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props["BillingMode"],
        )
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield Aws(s3=s3, dynamodb=dynamodb, ledger=Ledger(dynamodb, TABLE))
    shared.config.config.cache_clear()
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
