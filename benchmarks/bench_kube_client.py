"""Kubernetes client choice: cold import time and installed size of the official `kubernetes` package and `lightkube`.

Each candidate is pip-installed (with its dependencies) into its own empty directory. In a fresh interpreter each
time, the import HubSpoke would make is timed, min of --runs (default 7; the least disturbed run on a shared
machine), without bytecode as the Lambda asset ships and with it compiled. The directory is measured: all of it,
and what it adds to the Lambda asset (less what the Lambda runtime ships, boto3's dependencies, and the
Powertools layer, pydantic's). Needs PyPI. Numbers, no asserts.

    .venv/bin/python benchmarks/bench_kube_client.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = {
    "kubernetes==37.0.2": "from kubernetes import client; client.AppsV1Api; client.CoreV1Api; client.NetworkingV1Api",
    "lightkube==1.0.1": (
        "from lightkube import Client; from lightkube.resources.apps_v1 import Deployment, StatefulSet, DaemonSet; "
        "from lightkube.resources.core_v1 import ConfigMap; from lightkube.resources.networking_v1 import NetworkPolicy"
    ),
}
# Already in a Lambda function: the python3.14 runtime ships boto3 and its dependencies; the Powertools layer
# (stacks/functions.py) ships pydantic and its own.
PROVIDED = {
    "boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six",
    "pydantic", "pydantic_core", "typing_extensions", "annotated_types", "typing_inspection",
}  # fmt: skip


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _top_level(entry: Path) -> str:
    return entry.name.removesuffix(".py").split("-")[0].lower()


def _timings(target: Path, code: str, runs: int) -> list[float]:
    """Seconds to run `code` in `runs` fresh interpreters that write no bytecode."""
    probe = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        out.append(float(done.stdout))
    return out


def measure(spec: str, code: str, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
             "--target", str(target), spec],
            check=True,
        )  # fmt: skip
        # Sizes without bytecode, as the asset ships (pip --no-compile).
        entries = [e for e in target.iterdir() if e.name not in ("bin", "__pycache__")]
        code_entries = [e for e in entries if not e.name.endswith(".dist-info")]
        added = [e for e in code_entries if _top_level(e) not in PROVIDED]
        native = sorted({_top_level(e) for e in code_entries for f in ([e] if e.is_file() else e.rglob("*.so"))
                         if f.name.endswith(".so")})  # fmt: skip
        installed = _size(target)
        added_bytes = sum(_size(e) if e.is_dir() else e.stat().st_size for e in added)
        # Timed as the asset ships (no .pyc, and /var/task is read-only: every cold start compiles), then with
        # the bytecode compiled beforehand (what compiling at bundling time would give).
        source_only = _timings(target, code, runs)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=True, capture_output=True)
        compiled = _timings(target, code, runs)
        return {
            "client": spec,
            "import_ms_min_no_pyc": round(min(source_only) * 1000, 1),
            "import_ms_min_with_pyc": round(min(compiled) * 1000, 1),
            "import_ms_median_with_pyc": round(sorted(compiled)[len(compiled) // 2] * 1000, 1),
            "installed_mib": round(installed / 2**20, 1),
            "added_to_asset_mib": round(added_bytes / 2**20, 1),
            "packages": sorted(_top_level(e) for e in code_entries),
            "native_code": native,
            "python": sys.version.split()[0],
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for spec, code in CANDIDATES.items():
        print(json.dumps(measure(spec, code, max(5, args.runs))))


if __name__ == "__main__":
    main()
