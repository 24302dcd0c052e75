"""Run the tests on a busy machine: one busy-loop process per core, the command N times, then stop the hogs.

A test whose outcome depends on the machine's speed is a defect; this is how to catch one before a busy CI
runner does. `make test-under-load` runs `make test` twice this way; any other command works too:

    python benchmarks/under_load.py                                  # make test, twice, one hog per core
    python benchmarks/under_load.py --runs 3 -- .venv/bin/pytest -q tests/integration/test_github_client.py

Prints each run's exit code and wall time and a verdict; exits 0 only when every run passed. The hogs are
this script's own child processes, stopped by their ids however the runs end (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

# A pure-Python busy loop: it keeps one core at 100 % and never yields it voluntarily.
HOG = "while True:\n    pass\n"


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.terminate()
    for hog in hogs:
        try:
            hog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            hog.kill()
            hog.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="how many times to run the command (default 2)")
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy processes (default: one per core)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command after -- (default: make test)")
    args = parser.parse_args(argv)
    command = [part for part in args.command if part != "--"] or ["make", "test"]
    if args.runs < 1 or args.hogs < 0:
        parser.error("--runs must be >= 1 and --hogs >= 0")

    hogs = start_hogs(args.hogs)
    print(f"under load: {args.hogs} busy-loop processes ({os.cpu_count()} cores); running {' '.join(command)!r} "
          f"{args.runs} times", flush=True)  # fmt: skip
    results: list[tuple[int, float]] = []
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            code = subprocess.call(command)
            results.append((code, time.monotonic() - started))
            print(f"run {run}/{args.runs}: exit {code} in {results[-1][1]:.0f} s", flush=True)
    finally:
        stop_hogs(hogs)
    passed = sum(code == 0 for code, _ in results)
    verdict = "PASS" if passed == args.runs else "FAIL"
    print(f"{verdict}: {passed} of {args.runs} runs passed under {args.hogs} busy-loop processes")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
