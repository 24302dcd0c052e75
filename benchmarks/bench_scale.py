"""Scale benchmark: 10,000 targets on the local engine.

Checks and prints: nothing lost and exact counts; the largest state payload in the run (execution history
and every Lambda event/result) against Step Functions' 256 KB limit; what the Distributed Map gathered from its
children (the engine enforces 256 KiB on it, adaptation `aws-data-limit`) and the execution's history events
(25,000 at most, `aws-history-limit`); the wall time of a 10,000-target single-wave noop run; Summarize's peak
memory for runs of 1,000 and 10,000 succeeded targets (it must stay flat). Numbers, no wall-clock asserts.

    .venv/bin/python benchmarks/bench_scale.py [--targets 10000] [--concurrency 200]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubspoke.engine import LocalEngine
from hubspoke.synth import synthesize_cached

STATE_LIMIT = 262_144


def run(engine: LocalEngine, run_id: str, n: int, concurrency: int, fail_every: int) -> dict[str, object]:
    targets = [f"target-{i:05d}" for i in range(n)]
    failing = targets[::fail_every] if fail_every else []
    request = engine.manifest_request(
        run_id, [{"id": t} for t in targets], {"fail_ids": failing}, max_concurrency=concurrency
    )
    started = time.monotonic()
    result = engine.run(request)
    summary = result.summary or {}
    exact = (summary.get("total"), summary.get("succeeded"), summary.get("failed"), summary.get("lost")) == (
        n,
        n - len(failing),
        len(failing),
        0,
    )
    size, where = engine.largest_payload(result.execution_arn)
    gathered = [g for g in engine.limits.gathered if g.children == n][-1:]
    return {
        "wall_s": round(time.monotonic() - started, 1),
        "status": result.status,
        "exact": exact,
        "counts": {k: summary.get(k) for k in ("total", "succeeded", "failed", "lost")},
        "failures_by_error": summary.get("failures_by_error"),
        "error": result.error,
        "largest_payload": f"{size} bytes ({100 * size / STATE_LIMIT:.1f} % of 256 KB) at {where}",
        "map_gathered": [
            f"{g.bytes} bytes from {g.children} children ({g.bytes / g.children:.1f} a child)" for g in gathered
        ],
        "history_events": len(engine.history(result.execution_arn)),
    }


def summarize_peak_kib(engine: LocalEngine, run_id: str) -> float:
    """Run Summarize again on a finished run, in-process, under tracemalloc."""
    summarize = next(f for f in engine.runtime.functions if f.handler_path.startswith("summarize."))
    payload = json.dumps({"run": {"run_id": run_id, "operation": "noop", "params": {}}, "failure_threshold_percent": 0})
    tracemalloc.start()
    engine.runtime.invoke(summarize.name, payload)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


def queries_peak_kib(engine: LocalEngine, run_id: str) -> float:
    """The same ledger queries Summarize makes, alone: what moto and botocore cost, not Summarize."""
    ledger_module = importlib.import_module("shared.ledger")
    ledger = ledger_module.Ledger(engine.dynamodb, engine.table_name)
    tracemalloc.start()
    for _page in ledger.pages(run_id):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--memory-only", action="store_true", help="skip the failure run, measure memory only")
    args = parser.parse_args()
    stack = synthesize_cached(Path(".hubspoke") / "synth")
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalEngine(stack, time_scale=args.time_scale, log_path=Path(tmp) / "lambda.log") as engine,
    ):
        if not args.memory_only:
            big = run(engine, "scale", args.targets, args.concurrency, fail_every=100)
            print(f"{args.targets} targets, MaxConcurrency {args.concurrency}: {json.dumps(big)}")
            # One wave of plain noop targets, every limit enforced: the run that would have shown issue item 3.
            noop = run(engine, "scale-noop", args.targets, args.concurrency, fail_every=0)
            print(f"{args.targets} noop targets, one wave, limits enforced: {json.dumps(noop)}")
        # Summarize memory, succeeded targets only, small and large run.
        run(engine, "mem-small", args.targets // 10, args.concurrency, fail_every=0)
        run(engine, "mem-large", args.targets, args.concurrency, fail_every=0)
        for run_id, n in (("mem-small", args.targets // 10), ("mem-large", args.targets)):
            total, queries = summarize_peak_kib(engine, run_id), queries_peak_kib(engine, run_id)
            print(
                f"{n} succeeded targets: Summarize peak {total:.0f} KiB; its ledger queries alone "
                f"(moto + botocore) {queries:.0f} KiB; Summarize's own {total - queries:.0f} KiB"
            )


if __name__ == "__main__":
    main()
