"""A readers-writer gate: many requests at once, except that a table-iterating read runs alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteGate:
    """Many requests at once, except that a read that iterates a table (Query, Scan) runs alone."""

    ITERATING = (".Query", ".Scan")

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def enter(self, event_name: str) -> Iterator[None]:
        exclusive = event_name.endswith(self.ITERATING)
        with self._cond:
            while self._exclusive or (exclusive and self._shared):
                self._cond.wait()
            if exclusive:
                self._exclusive = True
            else:
                self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                if exclusive:
                    self._exclusive = False
                else:
                    self._shared -= 1
                self._cond.notify_all()
