"""The operation registry: each operation's module (under spoke/operations/) registered by name.

The hub validates params and runs each operation's deployment checks, the gate reads its budget and the spoke
runs it, all from this one registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from shared.budget import Budget
from shared.config import GitHubEnv, HubEnv, SpokeEnv
from shared.credentials import TargetAws
from shared.models import OperationResult, SpokeInput

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


class _Operations(Mapping[str, Operation]):
    """The operations by name, each module imported when first looked up: a spoke runs one operation, and its
    cold start should not pay for the others' imports (their pydantic models and SDK helpers, ~15 ms)."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = modules
        self._loaded: dict[str, Operation] = {}

    def __getitem__(self, name: str) -> Operation:
        if name not in self._loaded:
            module = importlib.import_module(self._modules[name])  # KeyError: no such operation
            if name != module.NAME:
                raise RuntimeError(f"{self._modules[name]} names itself {module.NAME!r}, registered as {name!r}")
            self._loaded[name] = Operation(
                name=name,
                params=module.Params,
                run=module.run,
                spoke_seconds=module.spoke_seconds,
                default_max_concurrency=getattr(module, "default_max_concurrency", None),
                budget=getattr(module, "budget", None),
                requests_per_target=getattr(module, "requests_per_target", None),
                check=getattr(module, "check", None),
            )
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


OPERATIONS: Mapping[str, Operation] = _Operations(
    {
        "noop": "spoke.operations.noop",
        "ecs-restart": "spoke.operations.ecs_restart",
        "ecs-run-task": "spoke.operations.ecs_run_task",
        "github-file-sync": "spoke.operations.github_file_sync",
        "k8s-apply": "spoke.operations.k8s_apply",
        "k8s-rollout-restart": "spoke.operations.k8s_rollout_restart",
    }
)
