"""The README's operator commands work verbatim on the embedded engine, each in a process of its own."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def readme_block(after: str) -> list[str]:
    """The commands of the first bash block after the heading `after` (comments and `export` lines dropped)."""
    text = (ROOT / "README.md").read_text()
    start = text.index("```bash", text.index(after)) + len("```bash")
    block = text[start : text.index("```", start)]
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [" ".join(shlex.quote(arg) for arg in args) for args in commands if args and args[0] != "export"]


def in_a_checkout(home: Path) -> dict[str, str]:
    """The environment of a README command: its own HubSpoke home, and nothing that would put the checkout on the
    path for it (the console script must find devtools/ by itself, as a user's does)."""
    env = {**os.environ, "HUBSPOKE_HOME": str(home)}
    env.pop("PYTHONPATH", None)
    return env


# The README runs `.venv/bin/hubspoke`: the console script of the venv these tests run in.
CONSOLE_SCRIPT = str(Path(sys.executable).parent / "hubspoke")


def test_the_operate_commands_of_the_readme_run_as_written(tmp_path: Path, synth_cache: Path, stack: object) -> None:
    # GIVEN a working folder with the first own run's targets file and the examples, and the session's synth
    (tmp_path / "my-targets.csv").write_text("id,team\nsvc-a,payments\nsvc-b,search\nsvc-c,search\n")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    home = tmp_path / ".hubspoke"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    env = {**os.environ, "HUBSPOKE_HOME": str(home)}
    commands = readme_block("## Operate runs")
    # The block holds exactly these commands, in this order (a running run to stop has no fixed id: skipped)
    verbs = [shlex.split(c)[1] for c in commands]
    assert verbs == ["plan", "run", "runs", "report", "rerun", "follow", "stop"]
    exits = {}
    outputs = {}
    for command in commands:
        args = shlex.split(command)
        if args[1] == "stop":
            continue
        done = subprocess.run(
            [sys.executable, "-m", "hubspoke", *args[1:]],
            check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        exits[args[1]], outputs[args[1]] = done.returncode, done.stdout + done.stderr
    # THEN each exits as the README says: the plan 0; the run and its report 1 (svc-b failed, threshold 0 %);
    # the rerun of svc-b without the fault 0; runs 0; follow of the finished run prints its summary, 1
    assert exits == {"plan": 0, "run": 1, "runs": 0, "report": 1, "rerun": 0, "follow": 1}, outputs
    assert "first-run" in outputs["runs"]
    report = outputs["report"]
    summary = json.loads(report[report.index("{") : report.rindex("}") + 1])
    assert (summary["total"], summary["failed"], [t["id"] for t in summary["failed_targets"]]) == (3, 1, ["svc-b"])


def test_the_kubernetes_commands_of_the_readme_run_as_written(tmp_path: Path, synth_cache: Path, stack: object) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    home = tmp_path / ".hubspoke"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    event, clusters = readme_block("### Image push on Kubernetes (EKS)")

    def run(command: str, *extra: str) -> str:
        args = shlex.split(command)
        done = subprocess.run(
            [CONSOLE_SCRIPT, *args[1:], "--quiet", *extra],
            check=False, cwd=tmp_path, env=in_a_checkout(home), capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return " ".join((done.stdout + done.stderr).split())  # as printed, unwrapped

    # THEN the push, delivered twice, restarts the 23 workloads that run web:1.4 once (the world has no ECS service)
    said = run(event, "--summary-json", "push.json")
    assert "0 services in 0 clusters, 29 workloads in 6 EKS clusters" in said
    runs = json.loads((tmp_path / "push.json").read_text())
    assert [(r["total"], r["succeeded"], r["unchanged"]) for r in runs] == [
        (0, 0, 0),
        (0, 0, 0),
        (23, 23, 0),
        (23, 0, 23),
    ]
    # and the world's 6 EKS clusters (all tier=prod, in 2 accounts x 2 regions) are the eks-clusters run's 6 targets
    said = run(clusters)
    assert "6 EKS clusters, 29 workloads" in said
    assert "'listed': 6, 'selected': 6" in said


def test_the_kubernetes_apply_commands_of_the_readme_run_as_written(
    tmp_path: Path, synth_cache: Path, stack: object
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    home = tmp_path / ".hubspoke"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    dry_run, apply = readme_block("### Kubernetes (EKS)")

    def run(command: str, summary: str) -> object:
        args = shlex.split(command)
        done = subprocess.run(
            [CONSOLE_SCRIPT, *args[1:], "--quiet", "--summary-json", summary],
            check=False, cwd=tmp_path, env=in_a_checkout(home), capture_output=True,
            text=True, timeout=900,
        )  # fmt: skip
        # 2 of the 10 clusters fail (no access entry; Helm's field): over the default threshold of 0 %
        assert done.returncode == 1, done.stdout + done.stderr
        return json.loads((tmp_path / summary).read_text())

    def counts(summary: dict[str, object]) -> tuple[object, ...]:
        return tuple(summary[k] for k in ("total", "succeeded", "unchanged", "failed"))

    # THEN the dry run: 8 of 10 would change, 2 fail; the apply: 8 succeeded, then the same 8 unchanged
    planned = run(dry_run, "dry.json")
    assert isinstance(planned, dict)
    assert counts(planned) == (10, 8, 0, 2)
    runs = run(apply, "apply.json")
    assert isinstance(runs, list)
    assert [counts(r) for r in runs] == [(10, 8, 0, 2), (10, 0, 8, 2)]
    errors = {t["id"].rsplit("/", 1)[-1]: t["error"] for t in runs[1]["failed_targets"]}
    assert errors == {"helm-managed": "FieldConflictError", "no-access-entry": "CredentialsError"}
