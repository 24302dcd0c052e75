"""Discovery sources, one module each, registered by the `type` a run request names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hub.sources import s3_manifest, static


@dataclass(frozen=True)
class SourceContext:
    """What a source may use; passed in so tests can give fakes or moto clients."""

    s3: Any


@dataclass(frozen=True)
class Source:
    name: str
    spec: type[BaseModel]
    # Returns raw target objects; the hub validates them as Target and checks ids are unique.
    discover: Callable[[Any, SourceContext], list[Any]]
    # Where the raw targets came from, for error messages ("source.targets", "s3://b/k").
    origin: Callable[[Any], str]


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(static.NAME, static.Spec, static.discover, static.origin),
        Source(s3_manifest.NAME, s3_manifest.Spec, s3_manifest.discover, s3_manifest.origin),
    )
}
