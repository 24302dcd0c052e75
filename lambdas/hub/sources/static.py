"""`static`: the targets are listed in the run request itself."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME = "static"


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["static"]
    targets: list[Any] = Field(max_length=10000)


def discover(spec: Spec, _ctx: Any) -> list[Any]:
    return list(spec.targets)


def origin(_spec: Spec) -> str:
    return "source.targets"
