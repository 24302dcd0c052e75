"""Cold import of each Lambda handler against a bare `import boto3`, each in a fresh interpreter.

A Lambda cold start pays for the handler module's imports before the first event; boto3 is the floor every
Python function that calls AWS pays. Each round starts one fresh interpreter per subject, in turn (so a busy
moment of the machine hits all of them alike), and times only the import (`time.perf_counter` around it, not
the interpreter's own start). Two Lambda environments: tracing off (POWERTOOLS_TRACE_DISABLED, as the local
engine runs) and tracing on (LAMBDA_TASK_ROOT set: Powertools' Tracer builds its X-Ray recorder and patches).
Prints min and median per subject in ms and the ratio of medians to boto3's. Numbers, no asserts.

    .venv/bin/python benchmarks/bench_cold_start.py [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# The checkout measured: this one, or another one's (bench_table.py measures a before checkout with this script).
ROOT = Path(os.environ.get("HUBSPOKE_BENCH_ROOT") or Path(__file__).resolve().parent.parent).resolve()
LAMBDAS = ROOT / "lambdas"
# What a function needs at import (the stack sets more; none of it is read at import).
LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "hubspoke",
    "POWERTOOLS_METRICS_NAMESPACE": "HubSpoke",
}
SUBJECTS = {
    "boto3": "boto3",
    "hub": "hub.handler",
    "spoke": "spoke.handler",
    "summarize": "summarize.handler",
}
TIMER = (
    "import sys, time\n"
    "sys.path.insert(0, {path!r})\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "print((time.perf_counter() - t) * 1000)\n"
)


def import_ms(module: str, tracing: bool) -> float:
    """The import of `module` in a fresh interpreter, in ms."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_LAMBDA"))}
    env.update(LAMBDA_ENV, AWS_LAMBDA_FUNCTION_NAME=module.split(".", maxsplit=1)[0])
    if tracing:
        env["LAMBDA_TASK_ROOT"] = str(LAMBDAS)  # Powertools: "in Lambda", so the Tracer is live
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(path=str(LAMBDAS), module=module)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=LAMBDAS,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for tracing in (False, True):
        mode = "tracing on" if tracing else "tracing off"
        samples: dict[str, list[float]] = {name: [] for name in SUBJECTS}
        for _ in range(args.rounds):
            for name, module in SUBJECTS.items():
                samples[name].append(import_ms(module, tracing))
        base = statistics.median(samples["boto3"])
        print(f"cold import, {mode}, {args.rounds} rounds (ms)")
        print(f"  {'subject':<10} {'min':>8} {'median':>8} {'÷ boto3':>8}")
        figures[mode] = {}
        for name, values in samples.items():
            median = statistics.median(values)
            figures[mode][name] = {"min_ms": round(min(values), 1), "median_ms": round(median, 1)}
            figures[mode][name]["ratio"] = round(median / base, 2)
            print(f"  {name:<10} {min(values):8.1f} {median:8.1f} {median / base:7.2f}x")
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
