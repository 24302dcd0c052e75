"""Per-container caches, registered where they are defined, so a new container can start without them.

In Lambda a container's caches die with it. The local engine runs every container in one process; it
calls reset_all() when it starts, as a new container would start empty. A cache not registered here would
leak from one local run into the next (tests/unit/test_caches.py finds any such cache in lambdas/).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class Clearable(Protocol):
    def cache_clear(self) -> None: ...


_C = TypeVar("_C", bound=Clearable)
_F = TypeVar("_F", bound=Callable[[], None])
_RESETS: list[Callable[[], None]] = []


def register(cached: _C) -> _C:
    """Decorator for a functools cache: reset_all() clears it."""
    _RESETS.append(cached.cache_clear)
    return cached


def on_reset(reset: _F) -> _F:
    """Decorator for a function that empties a cache kept elsewhere (a library's): reset_all() calls it."""
    _RESETS.append(reset)
    return reset


def reset_all() -> None:
    """Empty every registered cache, as a new container starts."""
    for reset in list(_RESETS):
        reset()
