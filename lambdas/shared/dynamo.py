"""DynamoDB access shared by the ledger, the image index and the local engine: queries on boto3's paginator,
items through boto3's TypeSerializer/TypeDeserializer, and one bounded batch writer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PaginatorConfigTypeDef, WriteRequestTypeDef

BATCH_LIMIT = 25  # BatchWriteItem's limit per call
# UnprocessedItems is DynamoDB saying "throttled, try these again later": AWS asks for exponential backoff.
# 8 attempts with waits of 0.05, 0.1, ... capped at 2 s: about 5 s in all, well inside any task timeout.
MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 2.0

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class UnprocessedItemsError(RuntimeError):
    """BatchWriteItem still left items unprocessed after the writer's last attempt."""


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict as a DynamoDB item (None values left out; ints become numbers)."""
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a plain dict; whole numbers become int (the deserializer gives Decimal)."""
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def query_items(client: DynamoDBClient, page_size: int | None = None, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """Query pages as plain dicts, following LastEvaluatedKey with boto3's paginator."""
    config: PaginatorConfigTypeDef = {"PageSize": page_size} if page_size else {}
    for page in client.get_paginator("query").paginate(**kwargs, PaginationConfig=config):
        yield [from_item(item) for item in page.get("Items", [])]


def batch_put(
    client: DynamoDBClient,
    table: str,
    items: Iterable[Mapping[str, Any]],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Put every item, 25 per BatchWriteItem; returns how many were written.

    Unprocessed items are sent again after a capped exponential backoff; after `max_attempts` calls for one
    batch, UnprocessedItemsError names how many are left (never an endless loop against a throttled table).
    """
    count = 0
    batch: list[WriteRequestTypeDef] = []
    for values in items:
        batch.append({"PutRequest": {"Item": to_item(values)}})
        count += 1
        if len(batch) == BATCH_LIMIT:
            _write(client, table, batch, max_attempts, sleep)
            batch = []
    if batch:
        _write(client, table, batch, max_attempts, sleep)
    return count


def backoff(attempt: int) -> float:
    """The wait after the `attempt`-th call (1-based) left items unprocessed."""
    return float(min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempt - 1)))


def _write(
    client: DynamoDBClient,
    table: str,
    requests: list[WriteRequestTypeDef],
    max_attempts: int,
    sleep: Callable[[float], None],
) -> None:
    pending = requests
    for attempt in range(1, max_attempts + 1):
        answer = client.batch_write_item(RequestItems={table: pending})
        # The unprocessed requests are sent back as they came (the output type is the input's shape).
        pending = cast("list[WriteRequestTypeDef]", (answer.get("UnprocessedItems") or {}).get(table, []))
        if not pending:
            return
        if attempt < max_attempts:
            sleep(backoff(attempt))
    raise UnprocessedItemsError(
        f"{table}: {len(pending)} of {len(requests)} items still unprocessed after {max_attempts} BatchWriteItem "
        f"attempts (the table is throttling writes)"
    )
