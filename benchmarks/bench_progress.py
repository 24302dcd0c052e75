"""The cost of one `follow` progress poll (RunClient.progress) on a run of N targets (default 10,000).

Counts the AWS calls of each poll (the client's own botocore event hook) and the bytes the ledger Query reads,
a few polls mid-run, then stops the run. Numbers, no asserts.

    .venv/bin/python benchmarks/bench_progress.py [--targets 10000] [--polls 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubspoke.client.runs import RunClient
from hubspoke.engine import LocalEngine
from hubspoke.synth import synthesize_cached


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--polls", type=int, default=3)
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / "hubspoke-bench-synth"
    stack = synthesize_cached(cache)
    with LocalEngine(stack, time_scale=0.01) as engine:
        client = RunClient(engine.deployment())
        targets = [{"id": f"t{i:05d}"} for i in range(args.targets)]
        fail = [t["id"] for t in targets[: args.targets // 100]]  # 1 % fail
        request = {
            "run_id": "bench",
            "operation": "noop",
            "params": {"fail_ids": fail},
            "source": {"type": "static", "targets": targets},
        }
        client.start(request)
        while (progress := client.progress("bench")).total is None or progress.done == 0:
            if progress.status != "RUNNING":
                break
        for _ in range(args.polls):
            client.counter.calls.clear()
            progress = client.progress("bench")
            calls = Counter(client.counter.calls)
            print(json.dumps({"progress": progress.__dict__, "calls": dict(calls), "total_calls": sum(calls.values())}))
        client.stop("bench")


if __name__ == "__main__":
    main()
