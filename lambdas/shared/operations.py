"""The operation registry: each operation's module (under spoke/operations/) registered by name.

The hub validates params and runs each operation's deployment checks, the gate reads its budget and the spoke
runs it, all from this one registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from shared.budget import Budget
from shared.config import GitHubEnv, HubEnv, SpokeEnv
from shared.credentials import TargetAws
from shared.models import OperationResult, SpokeInput
from spoke.operations import ecs_restart, ecs_run_task, github_file_sync, noop

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient


@dataclass(frozen=True)
class OperationContext:
    """What an operation may use, passed in by the spoke handler (tests pass moto clients)."""

    env: SpokeEnv
    ecs: ECSClient
    dynamodb: DynamoDBClient
    # Clients in the target's own account and region (its `account`/`region`/`role_arn`); this function's own
    # credentials for a target that names none. Operations call the target through these only.
    aws: TargetAws | None = None

    @property
    def target(self) -> TargetAws:
        """The target's clients (built by the spoke handler)."""
        assert self.aws is not None, "the spoke handler gives every operation its target's clients"
        return self.aws


@dataclass(frozen=True)
class Operation:
    name: str
    params: type[BaseModel]
    # Runs on one target. Raise RateLimitError/TransientError to be retried, TargetError to fail.
    run: Callable[[Any, SpokeInput, OperationContext], OperationResult]
    # The seconds one spoke is assumed to take with these params (a plan's cost estimate: Lambda GB-seconds).
    spoke_seconds: Callable[[Any, HubEnv], float]
    # Spokes at once when the run does not say (None: the deployment's max_concurrency).
    default_max_concurrency: Callable[[HubEnv], int] | None = None
    # The rate-limit gate: the API budget left, and what one target costs of it (None: no gate).
    budget: Callable[[GitHubEnv], Budget] | None = None
    requests_per_target: Callable[[Any], int] | None = None
    # Checks of valid params against the deployment (e.g. a wait that cannot fit in the Spoke task's timeout):
    # 'params.field: message' problems; the hub refuses the run with them before anything is written.
    check: Callable[[Any, HubEnv], list[str]] | None = None


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(noop.NAME, noop.Params, noop.run, noop.spoke_seconds),
        Operation(
            ecs_restart.NAME, ecs_restart.Params, ecs_restart.run, ecs_restart.spoke_seconds, check=ecs_restart.check
        ),
        Operation(
            ecs_run_task.NAME,
            ecs_run_task.Params,
            ecs_run_task.run,
            ecs_run_task.spoke_seconds,
            check=ecs_run_task.check,
        ),
        Operation(
            github_file_sync.NAME,
            github_file_sync.Params,
            github_file_sync.run,
            github_file_sync.spoke_seconds,
            default_max_concurrency=github_file_sync.default_max_concurrency,
            budget=github_file_sync.budget,
            requests_per_target=github_file_sync.requests_per_target,
        ),
    )
}
