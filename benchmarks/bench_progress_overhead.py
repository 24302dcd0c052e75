"""What following a local run costs: the same run with the progress poll (`hubspoke local run`'s bar) and
without (`--quiet`), in turn, on one engine.

N noop targets (default 3,000) at MaxConcurrency C (default 50), no simulated work, the engine's default
clock, after one run not counted (imports, first calls). Each pair runs quiet then followed (the other way
round in the next pair, so neither always runs on a fuller ledger table); the figure is each run's wall time,
min and median per mode, and the median of the pairs' ratios. The poll is the CLI's. Numbers, no asserts.

    .venv/bin/python benchmarks/bench_progress_overhead.py [--targets 3000] [--concurrency 50] [--pairs 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

# The checkout measured: this one, or another one's (bench_table.py measures a before checkout with this script).
ROOT = Path(os.environ.get("HUBSPOKE_BENCH_ROOT") or Path(__file__).resolve().parent.parent).resolve()
sys.path.insert(0, str(ROOT))

from hubspoke.engine import LocalEngine  # noqa: E402
from hubspoke.synth import synthesize_cached  # noqa: E402


def one_run(engine: LocalEngine, run_id: str, n: int, concurrency: int, followed: bool) -> float:
    targets = [{"id": f"t{i:05d}"} for i in range(n)]
    request = engine.manifest_request(run_id, targets, {}, max_concurrency=concurrency)
    polls: list[Any] = []
    result = engine.run(request, on_progress=polls.append if followed else None)
    if result.summary is None or result.summary["succeeded"] != n:
        raise SystemExit(f"benchmark run did not succeed: {result.status} {result.error}")
    return result.real_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = synthesize_cached(ROOT / ".hubspoke" / "synth")
        walls: dict[str, list[float]] = {"quiet": [], "followed": []}
        ratios: list[float] = []
        with LocalEngine(stack, time_scale=0.01, log_path=Path(tmp) / "lambda.log") as engine:
            one_run(engine, "warm-up", args.targets, args.concurrency, False)  # imports and first calls, not counted
            for pair in range(args.pairs):
                order = ("quiet", "followed") if pair % 2 == 0 else ("followed", "quiet")
                this: dict[str, float] = {}
                for mode in order:
                    wall = one_run(engine, f"{mode}-{pair}", args.targets, args.concurrency, mode == "followed")
                    this[mode] = wall
                    walls[mode].append(wall)
                ratios.append(this["followed"] / this["quiet"])
    print(f"progress overhead, {args.targets} noop targets, C={args.concurrency}, {args.pairs} pairs (wall s)")
    for mode, values in walls.items():
        print(f"  {mode:<9} min {min(values):7.2f}  median {statistics.median(values):7.2f}")
    pairs = ", ".join(f"{r:.3f}" for r in ratios)
    print(f"  followed / quiet: median {statistics.median(ratios):.3f} (pairs: {pairs})")


if __name__ == "__main__":
    main()
