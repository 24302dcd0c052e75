"""Environment variables: the process's for the engine's lifetime, and each function's own."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager


@contextmanager
def process_environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ until the block ends, then what was there before."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class FunctionEnviron(MutableMapping[str, str]):
    """os.environ while the engine runs (adaptation `function-environment`).

    In Lambda each function has a process of its own, holding only its own environment. Here every function
    runs in threads of one process, so os.environ answers per thread: in a thread running a function (its
    handler, or the import of its handler's module) it is that function's environment, which its writes
    change too; in any other thread it is the process's environment.
    """

    def __init__(self, process: MutableMapping[str, str], current: Callable[[], MutableMapping[str, str] | None]):
        self._process = process
        self._current = current

    def _view(self) -> MutableMapping[str, str]:
        function = self._current()
        return self._process if function is None else function

    def __getitem__(self, key: str) -> str:
        return self._view()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._view()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._view()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._view()))

    def __len__(self) -> int:
        return len(self._view())

    def copy(self) -> dict[str, str]:
        return dict(self._view())

    def __repr__(self) -> str:
        return f"FunctionEnviron({dict(self._view())!r})"


@contextmanager
def function_environments(current: Callable[[], MutableMapping[str, str] | None]) -> Iterator[None]:
    """Install FunctionEnviron as os.environ until the block ends (os.getenv reads it too)."""
    process = os.environ
    view = FunctionEnviron(process, current)
    # Replacing the object (not its contents) is the point: the process's own environment stays as it is.
    os.environ = view  # type: ignore[assignment]  # noqa: B003
    try:
        yield
    finally:
        if os.environ is view:
            os.environ = process  # noqa: B003
