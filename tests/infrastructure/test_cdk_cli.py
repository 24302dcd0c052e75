"""`npx cdk synth` works as the README says: the pinned CDK CLI, Node from the venv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="run `make setup` first")
def test_npx_cdk_synth(tmp_path):
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    npx = shutil.which("npx", path=env["PATH"])
    assert npx is not None
    proc = subprocess.run(
        [npx, "cdk", "synth", "-q", "-o", str(tmp_path)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    template = json.loads((tmp_path / "HubSpoke.template.json").read_text())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
    # `cdk deploy` without a stack name deploys the main assembly's only stack: HubSpoke. HubSpokeTargetRole is
    # in a stage (a nested assembly), selected by `cdk deploy 'HubSpokeTargetRole/*'`; a second top-level stack
    # would make a plain `cdk deploy` fail ("specify which stacks to use").
    artifacts = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]
    top_level = sorted(k for k, a in artifacts.items() if a["type"] == "aws:cloudformation:stack")
    assert top_level == ["HubSpoke"]
    assert artifacts["assembly-HubSpokeTargetRole"]["type"] == "cdk:cloud-assembly"
    nested = json.loads((tmp_path / "assembly-HubSpokeTargetRole" / "manifest.json").read_text())["artifacts"]
    stacks = [a for a in nested.values() if a["type"] == "aws:cloudformation:stack"]
    assert [(a["displayName"], a["properties"]["stackName"]) for a in stacks] == [
        ("HubSpokeTargetRole/HubSpokeTargetRole", "HubSpokeTargetRole")
    ]
