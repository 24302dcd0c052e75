"""The cost of one `follow` progress poll (RunClient.progress) on a run of N targets (default 10,000) with F of
them failed (default: 3, then 300).

For each F: starts a run whose first F targets fail, waits (mid-run) until the F failures are recorded, then polls
a few times, counting each poll's AWS calls (the client's own botocore event hook) and the items its ledger
Query read (DynamoDB's ScannedCount). moto answers ConsumedCapacity with a constant, so the read units are
computed here by DynamoDB's published rules: an item's size is its attribute names and values in bytes, an index
entry's size that of its keys plus 100 bytes of overhead; a Query is charged the bytes it read, per 1 MB page,
rounded up to 4 KB, half a unit per 4 KB when eventually consistent (index reads always are). For comparison, the
same for the previous design, a Query of the run's base-table rows filtered on status (it read every row: the
filter applies after the read). Numbers, no asserts.

    .venv/bin/python benchmarks/bench_progress.py [--targets 10000] [--failed 3 300] [--polls 3]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubspoke.client.runs import RunClient
from hubspoke.engine import LocalEngine
from hubspoke.synth import synthesize_cached
from stacks.ledger_index import FAILED_INDEX, FAILED_KEY

READ_UNIT_BYTES = 4096
PAGE_BYTES = 1024 * 1024  # a Query reads at most 1 MB per call
INDEX_ENTRY_OVERHEAD = 100  # bytes DynamoDB adds to each index entry


def value_bytes(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for an attribute value (names are added by item_bytes)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":  # about 1 byte per 2 significant digits, plus 1
        return (len(str(raw).lstrip("-").replace(".", "").strip("0")) + 1) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_bytes(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(value_bytes(v) + 1 for v in raw)
    return sum(len(str(x).encode()) for x in raw)  # SS, NS, BS


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def query_read_units(sizes: list[int]) -> float:
    """Eventually consistent read units of a Query reading items of these sizes, page by 1 MB page."""
    units, page = 0.0, 0
    for size in sizes:
        if page and page + size > PAGE_BYTES:
            units += math.ceil(page / READ_UNIT_BYTES) * 0.5
            page = 0
        page += size
    return units + (math.ceil(page / READ_UNIT_BYTES) * 0.5 if page else 0.5)


def all_items(dynamodb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("query").paginate(**kwargs):
        items.extend(page.get("Items", []))
    return items


def measure(engine: LocalEngine, targets: int, failed: int, polls: int) -> None:
    client = RunClient(engine.deployment(), sleep=time.sleep)
    scanned: list[int] = []
    client.dynamodb.meta.events.register(
        "after-call.dynamodb.Query", lambda parsed, **_: scanned.append(int(parsed["ScannedCount"]))
    )
    run_id = f"bench-{failed}"
    ids = [f"t{i:05d}" for i in range(targets)]
    client.start(
        {
            "run_id": run_id,
            "operation": "noop",
            "params": {"fail_ids": ids[:failed]},
            "source": {"type": "static", "targets": [{"id": i} for i in ids]},
        }
    )
    while (progress := client.progress(run_id)).failed < failed and progress.status == "RUNNING":
        time.sleep(0.5)
    # A side client (not counted) reads what the polls' Query read, to size it.
    table = engine.deployment().ledger_table
    entries = all_items(
        engine.dynamodb,
        TableName=table,
        IndexName=FAILED_INDEX,
        KeyConditionExpression="#k = :r",
        ExpressionAttributeNames={"#k": FAILED_KEY},
        ExpressionAttributeValues={":r": {"S": run_id}},
    )
    index_units = query_read_units([item_bytes(e) + INDEX_ENTRY_OVERHEAD for e in entries])
    rows = all_items(
        engine.dynamodb,
        TableName=table,
        KeyConditionExpression="run_id = :r",
        ExpressionAttributeValues={":r": {"S": run_id}},
    )
    base_units = query_read_units([item_bytes(r) for r in rows])
    for _ in range(polls):
        client.counter.calls.clear()
        scanned.clear()
        progress = client.progress(run_id)
        calls = Counter(client.counter.calls)
        print(
            json.dumps(
                {
                    "targets": targets,
                    "failed_injected": failed,
                    "progress": {**progress.__dict__, "done": progress.done},
                    "calls": dict(calls),
                    "calls_per_poll": sum(calls.values()),
                    "index_items_read": sum(scanned),
                    "read_units_per_poll": index_units,
                    "previous_design": {"rows_read": len(rows), "read_units_per_poll": base_units},
                }
            )
        )
    client.stop(run_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--failed", type=int, nargs="+", default=[3, 300])
    parser.add_argument("--polls", type=int, default=3)
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / "hubspoke-bench-synth"
    stack = synthesize_cached(cache)
    for failed in args.failed:
        with LocalEngine(stack, time_scale=0.01) as engine:
            measure(engine, args.targets, failed, args.polls)


if __name__ == "__main__":
    main()
