"""Every figure of the performance table (docs/benchmarks.md), in one sitting, side by side.

Each figure is measured by this checkout's benchmark scripts in fresh processes, in turn, so a busy moment of
the machine falls on every column alike:

- engine CPU per spoke (marginal, 1,000 - 100 noop targets, C=50, 100 ms of work) and the two concurrency
  efficiencies (1,000 at C=50 for 100 ms; 200 at C=10 for 500 ms): `bench_engine_vs_moto.py --setup engine`,
  beside the plain moto setup (`--setup moto`: a STANDARD Distributed Map whose child invokes the same spoke
  handler through moto's own Lambda path);
- the spoke handler's cold import over a bare `import boto3`, tracing off and on: `bench_cold_start.py`,
  seven rounds per pair (the pair's figure: the median import over the same rounds' median boto3 import);
- the progress bar's overhead (wall, followed / quiet, 3,000 targets): `bench_progress_overhead.py`, one pair
  per pair;
- the test suite's wall time on both cores over one process, the same tests (`--suite`, default tests/unit;
  `--suite tests` for the whole suite).

With `--baseline DIR` (another checkout of HubSpoke, e.g. `git worktree add ../before <commit>`), the engine,
cold-start and progress figures of that checkout's code are measured too, by the same scripts (they take the
checkout to measure from HUBSPOKE_BENCH_ROOT), in turn with this one: before and after, in one sitting.
Printed: each figure's runs, min and median, and ratios pair by pair. Numbers, no asserts.

    .venv/bin/python benchmarks/bench_table.py [--pairs 3] [--baseline DIR] [--suite tests/unit] [--suite-pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Figures = dict[str, float]


def _env(tree: Path) -> dict[str, str]:
    paths = os.pathsep.join([str(tree), str(tree / "lambdas")])
    return {**os.environ, "PYTHONPATH": paths, "HUBSPOKE_BENCH_ROOT": str(tree)}


def _run(tree: Path, args: list[str]) -> str:
    """This checkout's benchmark script measuring `tree`'s code (so both trees are measured the same way); its
    output (it fails loudly)."""
    script, *rest = args
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *rest],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} in {tree} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def engine_figures(tree: Path, setup: str = "engine") -> Figures:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        _run(tree, ["benchmarks/bench_engine_vs_moto.py", "--setup", setup, "--out", str(out)])
        figures: Figures = json.loads(out.read_text())
    return figures


def cold_start_figures(tree: Path) -> Figures:
    output = _run(tree, ["benchmarks/bench_cold_start.py", "--rounds", "7", "--json"])
    document = json.loads(output[output.index("{") :])
    return {
        "spoke_import_ratio_tracing_off": document["tracing off"]["spoke"]["ratio"],
        "spoke_import_ratio_tracing_on": document["tracing on"]["spoke"]["ratio"],
    }


def progress_figures(tree: Path) -> Figures:
    output = _run(tree, ["benchmarks/bench_progress_overhead.py", "--pairs", "1"])
    match = re.search(r"followed / quiet: median ([0-9.]+)", output)
    if match is None:
        raise SystemExit(f"bench_progress_overhead.py printed no ratio:\n{output}")
    return {"progress_followed_over_quiet": float(match.group(1))}


def suite_seconds(paths: list[str], workers: str) -> float:
    """pytest's wall time over `paths` with `-n workers` (0: one process), as `make test` runs it, no coverage."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov", "-n", workers]
    command += ["--dist", "loadfile", *paths]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=_env(ROOT), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}")
    return wall


def _row(name: str, values: list[float]) -> str:
    runs = " ".join(f"{v:.3f}" for v in values)
    return f"  {name:<38}{runs:>34}  min {min(values):8.3f}  median {statistics.median(values):8.3f}"


def _print(label: str, runs: dict[str, list[Figures]], compares: list[tuple[str, str]]) -> None:
    """Each column's runs per figure, then each (a, b) of `compares` as b / a, pair by pair."""
    print(label)
    for key in next(iter(runs.values()))[0]:
        for name, values in runs.items():
            print(_row(f"{key} [{name}]", [r[key] for r in values]))
        for first, second in compares:
            pairs = zip(runs[first], runs[second], strict=True)
            print(_row(f"{key} {second}/{first}", [b[key] / a[key] for a, b in pairs]))
    sys.stdout.flush()


def _measure(trees: dict[str, Path], pairs: int) -> None:
    """The engine, plain moto, cold-start and progress figures, `pairs` times, every column in turn."""
    engine: dict[str, list[Figures]] = {**{name: [] for name in trees}, "plain moto": []}
    cold: dict[str, list[Figures]] = {name: [] for name in trees}
    progress: dict[str, list[Figures]] = {name: [] for name in trees}
    for _ in range(pairs):
        for name, tree in trees.items():
            engine[name].append(engine_figures(tree))
        # Plain moto runs none of HubSpoke's engine: once per pair, from this checkout.
        engine["plain moto"].append(engine_figures(ROOT, "moto"))
        for name, tree in trees.items():
            cold[name].append(cold_start_figures(tree))
            progress[name].append(progress_figures(tree))
    compare = [("before", "after")] if len(trees) == 2 else []
    label = "engine: CPU per spoke (ms, marginal), efficiency (ideal / actual makespan)"
    _print(label, engine, [*compare, ("plain moto", list(trees)[-1])])
    _print("cold import of the spoke handler / bare import boto3 (ratio of the round's times)", cold, compare)
    _print("progress bar: followed / quiet wall time", progress, compare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another HubSpoke checkout, measured in turn with this one")
    parser.add_argument("--suite", nargs="+", default=["tests/unit"], help="test paths for the suite figure")
    parser.add_argument("--suite-pairs", type=int, default=3, help="0 leaves the suite figure out")
    args = parser.parse_args()

    trees = {"before": args.baseline.resolve(), "after": ROOT} if args.baseline else {"this": ROOT}
    print(
        f"the performance table, {args.pairs} pairs, everything in turn; "
        + ", ".join(f"{k}: {v}" for k, v in trees.items())
    )
    if args.pairs > 0:
        _measure(trees, args.pairs)
    if args.suite_pairs > 0:
        walls: dict[str, list[float]] = {"one process": [], "both cores": []}
        for pair in range(args.suite_pairs):
            order = ("one process", "both cores") if pair % 2 == 0 else ("both cores", "one process")
            for mode in order:
                walls[mode].append(suite_seconds(args.suite, "0" if mode == "one process" else "2"))
        print(f"test suite wall time (s), pytest {' '.join(args.suite)}, -n 0 and -n 2 in turn")
        for mode, values in walls.items():
            print(_row(mode, values))
        ratios = [b / a for a, b in zip(walls["one process"], walls["both cores"], strict=True)]
        print(_row("both cores / one process", ratios))


if __name__ == "__main__":
    main()
