"""Operations, one module each, registered by name. The hub validates params with the same models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from shared.models import OperationResult, SpokeInput
from spoke.operations import ecs_restart, noop


@dataclass(frozen=True)
class Operation:
    name: str
    params: type[BaseModel]
    # Runs on one target. Raise RateLimitError/TransientError to be retried, TargetError to fail.
    run: Callable[[Any, SpokeInput], OperationResult]


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(noop.NAME, noop.Params, noop.run),
        Operation(ecs_restart.NAME, ecs_restart.Params, ecs_restart.run),
    )
}
