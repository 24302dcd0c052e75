"""The local engine's progress (the `local run` progress bar): counted without reading the ledger, whose every
Query (even of the failed index) is a scan of the whole table in moto, run alone."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from hubspoke.engine import Progress

pytestmark = pytest.mark.e2e


def _request(run_id: str, n: int, failing: list[str]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "operation": "noop",
        "params": {"fail_ids": failing},
        "source": {"type": "static", "targets": [{"id": f"t{i:03d}"} for i in range(n)]},
        "failure_threshold_percent": 50,
    }


def test_a_poll_reads_no_ledger_row(engine):
    from moto.dynamodb.models.table import Table

    # GIVEN a finished run of 40 targets, 4 of them failed
    failing = ["t003", "t010", "t020", "t039"]
    engine.run(_request("counted", 40, failing))
    read: list[str | None] = []
    query = Table.query

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        read.append(inspect.signature(query).bind(self, *args, **kwargs).arguments.get("index_name"))
        return query(self, *args, **kwargs)

    # WHEN its progress is read (moto's Query patched for the poll only)
    Table.query = counting  # type: ignore[method-assign]
    try:
        progress = engine.progress("counted")
    finally:
        Table.query = query  # type: ignore[method-assign]
    # THEN the counts are exact, and no Query of the ledger (nor of its index) ran
    assert progress == Progress(status="SUCCEEDED", total=40, succeeded=36, failed=4, pending=0)
    assert read == []


def test_the_bar_sees_the_end_of_a_run_named_otherwise(engine):
    # GIVEN a run whose execution is not named after it (a delivered event's, as `local event` runs it)
    seen: list[Progress] = []
    # WHEN it runs with a progress callback
    result = engine.run(_request("named-otherwise", 12, ["t005"]), on_progress=seen.append, execution_name="event-1")
    # THEN the last progress is the run's end, with exact counts
    assert result.status == "SUCCEEDED"
    assert seen[-1] == Progress(status="SUCCEEDED", total=12, succeeded=11, failed=1, pending=0)
