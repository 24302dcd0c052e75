"""Replacing an attribute of a library's module or class for as long as the engine runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    """`obj.name` is `value` until the block ends, then what it was."""
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)
