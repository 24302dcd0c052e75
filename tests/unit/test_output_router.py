"""The engine's stdout router keeps each handler's lines whole in the run log."""

from __future__ import annotations

import io
import json
import threading

from hubspoke.engine.output import OutputRouter


class _AlwaysInHandler:
    """Stands in for the runtime's question "is this thread running a handler?": here, always."""

    def in_handler(self) -> bool:
        return True


def test_a_line_written_in_two_calls_is_not_split_by_another_thread():
    # GIVEN a handler thread that prints a JSON line the way print() does: the text, then the newline
    log = io.StringIO()
    router = OutputRouter(io.StringIO(), _AlwaysInHandler(), log)  # type: ignore[arg-type]
    text_written, other_done = threading.Event(), threading.Event()

    def first() -> None:
        router.write('{"a": 1}')
        text_written.set()
        other_done.wait(10)
        router.write("\n")

    def second() -> None:
        text_written.wait(10)
        router.write('{"b": 2}\n')
        other_done.set()

    # WHEN another handler thread writes a whole line between the two calls
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # THEN every line of the log is one JSON document
    assert [json.loads(line) for line in log.getvalue().splitlines()] == [{"b": 2}, {"a": 1}]
