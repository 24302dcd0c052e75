"""GitHub file-sync benchmark: the local engine against the local GitHub-compatible server, on loopback.

Prints, for N repositories (default 200) at MaxConcurrency C (default 10): wall time, GitHub requests per
repository (first run and rerun), pull requests per repository, CPU per spoke, and the size and import time
of the bundled client. Numbers, no wall-clock asserts.

    .venv/bin/python benchmarks/bench_github.py [--repos 200] [--concurrency 10] [--secondary-share 0.0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.github import GitHubServer, org_world
from hubspoke.engine import LocalEngine
from hubspoke.report import budget_waits
from hubspoke.synth import project_context, synthesize_cached

SCALE = 0.01
COUNTS = ("total", "succeeded", "unchanged", "failed", "lost")
PARAMS = json.loads((Path(__file__).resolve().parent.parent / "examples" / "github-files.json").read_text())


def asset_numbers(asset: Path) -> dict[str, object]:
    bundled = [asset / "gidgethub", asset / "uritemplate"]
    size = sum(f.stat().st_size for d in bundled for f in d.rglob("*") if f.is_file())
    code = "import time; t = time.perf_counter(); import gidgethub.abc, gidgethub.sansio; "
    code += "print(time.perf_counter() - t)"
    runs = []
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", code], cwd=asset, capture_output=True, text=True, check=True)
        runs.append(float(done.stdout))
    return {"bundled_client_kib": round(size / 1024), "client_import_ms_median": round(sorted(runs)[2] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--secondary-share", type=float, default=0.0)
    args = parser.parse_args()
    with GitHubServer(
        org_world("acme", args.repos), time_scale=SCALE, secondary_share=args.secondary_share, retry_after_seconds=1
    ) as server:
        overrides = {"github": {**project_context()["hubspoke"]["github"], "api_url": server.url}}
        with tempfile.TemporaryDirectory() as tmp:
            stack = synthesize_cached(Path(tmp), overrides)
            spoke_fn = next(k for k, v in stack.resources("AWS::Lambda::Function").items() if "Spoke" in k)
            print(json.dumps(asset_numbers(stack.asset_dir(spoke_fn))))
            for label in ("first", "rerun"):
                before = len(server.requests)
                with LocalEngine(stack, time_scale=SCALE, log_path=Path(tmp) / f"{label}.log", github_token="t") as eng:
                    request = {
                        "run_id": f"bench-{label}",
                        "operation": "github-file-sync",
                        "params": PARAMS,
                        "source": {"type": "github-org", "org": "acme"},
                        "max_concurrency": args.concurrency,
                    }
                    started = time.monotonic()
                    result = eng.run(request)
                    wall = time.monotonic() - started
                    spoke = next(f for f in eng.runtime.functions if f.handler_path.startswith("spoke."))
                    waits = [w["reason"] for w in budget_waits(eng.history(result.execution_arn))]
                    cpu_ms = 1000 * spoke.stats.cpu_seconds / max(1, spoke.stats.invocations)
                summary = result.summary or {}
                requests = server.requests[before:]
                print(
                    json.dumps(
                        {
                            "run": label,
                            "repos": args.repos,
                            "concurrency": args.concurrency,
                            "wall_s": round(wall, 1),
                            "counts": {k: summary.get(k) for k in COUNTS},
                            "github_requests": len(requests),
                            "requests_per_repo": round(len(requests) / args.repos, 2),
                            "by_method": dict(Counter(r.method for r in requests)),
                            "secondary_limited": sum(r.status == 403 for r in requests),
                            "max_prs_per_repo": max(server.pulls_created(n) for n in server.repo_names()),
                            "cpu_ms_per_spoke_invocation": round(cpu_ms, 1),
                            "rate_limit_gate_waits": waits,
                        }
                    )
                )


if __name__ == "__main__":
    main()
