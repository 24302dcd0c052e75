"""Benchmark the local engine: N noop targets at MaxConcurrency C with W ms of simulated work each.

Prints wall time, the simulated makespan against the ideal ceil(N/C) x W, CPU per spoke (whole process,
and inside the spoke handler), and the same run sequentially (MaxConcurrency 1). Numbers, no asserts.

    .venv/bin/python benchmarks/bench_local_engine.py [--targets 1000] [--concurrency 50] [--work-ms 100]
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubspoke.engine import LocalEngine
from hubspoke.synth import synthesize_cached


def measure(engine: LocalEngine, run_id: str, n: int, concurrency: int, work_ms: int) -> dict[str, float]:
    targets = [{"id": f"t{i:05d}"} for i in range(n)]
    request = engine.manifest_request(run_id, targets, {"sleep_ms": work_ms}, max_concurrency=concurrency)
    cpu0 = time.process_time()
    result = engine.run(request)
    cpu = time.process_time() - cpu0
    if result.summary is None or result.summary["succeeded"] != n:
        raise SystemExit(f"benchmark run did not succeed: {result.status} {result.error} {result.summary}")
    ideal = math.ceil(n / concurrency) * work_ms / 1000
    return {
        "wall_s": result.real_seconds,
        "simulated_makespan_s": result.simulated_seconds,
        "ideal_s": ideal,
        "makespan_over_ideal": result.simulated_seconds / ideal if ideal else float("nan"),
        "cpu_per_spoke_ms": cpu * 1000 / n,
        "handler_cpu_per_spoke_ms": result.spoke_cpu_ms / max(result.spoke_invocations, 1),
        "peak_concurrency": result.peak_concurrency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--work-ms", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=1.0, help="1.0 = real time (the honest makespan)")
    parser.add_argument("--repeat", type=int, default=3, help="parallel runs; the median row is reported")
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()

    stack = synthesize_cached(Path(".hubspoke") / "synth")
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalEngine(stack, time_scale=args.time_scale, log_path=Path(tmp) / "lambda.log") as engine,
    ):
        # Warm up: imports and first-call costs are not per-spoke costs.
        measure(engine, "warmup", 20, 5, 0)
        # The machine is shared and noisy: repeat, and report every run and the median by CPU per spoke.
        runs = [
            measure(engine, f"parallel-{i}", args.targets, args.concurrency, args.work_ms) for i in range(args.repeat)
        ]
        runs.sort(key=lambda r: r["cpu_per_spoke_ms"])
        rows = {f"parallel #{i + 1} (C={args.concurrency})": r for i, r in enumerate(runs)}
        rows["parallel median"] = runs[len(runs) // 2]
        if not args.skip_sequential:
            rows["sequential (C=1)"] = measure(engine, "sequential", args.targets, 1, args.work_ms)

    print(f"local engine: {args.targets} noop targets, {args.work_ms} ms simulated work, time scale {args.time_scale}")
    keys = list(next(iter(rows.values())))
    print(f"{'':26}" + "".join(f"{k:>26}" for k in keys))
    for name, row in rows.items():
        print(f"{name:26}" + "".join(f"{row[k]:>26.2f}" for k in keys))
    print(f"max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
