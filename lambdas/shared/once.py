"""Once per key: an operation's action made idempotent with Powertools Idempotency on the deployment's table.

`ecs-restart` and `k8s-rollout-restart` restart a service or workload once per (image digest, place): a push
delivered twice restarts once, and the second delivery learns it was not the first by the attempt token the
stored outcome carries. The idempotency record's key is `<function>.<module>.<qualname>#<hash of key>`, so each
operation keeps its own decorated function (and its records across an upgrade).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from shared.errors import RateLimitError
from shared.observability import lambda_context

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Action = Callable[..., dict[str, str]]


def once_per_key(dynamodb: DynamoDBClient, table: str, hours: int) -> Callable[[Action], Action]:
    """A decorator: the action, called as action(key=..., attempt_token=..., **arguments), runs once per `key`
    within `hours`; its other arguments (clients) are not part of the key. It must return the attempt token in
    its outcome's `token`."""
    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
    config = IdempotencyConfig(expires_after_seconds=hours * 3600)

    def decorate(action: Action) -> Action:
        wrapped: Any = idempotent_function(data_keyword_argument="key", persistence_store=persistence, config=config)(
            action
        )
        wrapped.idempotency_config = config
        return wrapped  # type: ignore[no-any-return]

    return decorate


def call_once(action: Action, key: dict[str, str], busy: str, **arguments: Any) -> tuple[dict[str, str], bool]:
    """The action's outcome for `key`, and whether this call was the one that ran it (False: an earlier delivery
    did). An attempt still in progress elsewhere is a RateLimitError (`busy`), retried by the state machine."""
    token = uuid.uuid4().hex
    if lambda_context.get() is not None:
        action.idempotency_config.register_lambda_context(lambda_context.get())  # type: ignore[attr-defined]
    try:
        outcome = action(key=key, attempt_token=token, **arguments)
    except IdempotencyAlreadyInProgressError:
        raise RateLimitError(busy) from None
    return outcome, outcome["token"] == token
