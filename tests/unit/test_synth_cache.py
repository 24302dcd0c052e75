"""The local synth cache's fingerprint: any change to what the synthesized stack or its asset depends on
must give a new fingerprint, or a stale template or Lambda asset is reused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hubspoke.synth import PROJECT_ROOT, source_fingerprint


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the stack is synthesized from, to edit freely."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "cdk.json", root / "cdk.json")
    for tree in ("stacks", "lambdas"):
        shutil.copytree(PROJECT_ROOT / tree, root / tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


@pytest.mark.parametrize(
    "relative",
    [
        "lambdas/requirements.txt",  # pip installs it into the Lambda asset
        "lambdas/shared/config.py",
        "stacks/monitoring.py",
        "cdk.json",
    ],
)
def test_editing_an_input_of_the_synth_changes_the_fingerprint(project: Path, relative: str) -> None:
    # GIVEN the fingerprint of an unchanged tree
    before = source_fingerprint(root=project)
    # WHEN one input of the synthesized stack or its asset changes
    path = project / relative
    path.write_text(path.read_text() + "\n")
    # THEN the cache key changes, so the next local run synthesizes afresh
    assert source_fingerprint(root=project) != before


def test_bytecode_caches_do_not_change_the_fingerprint(project: Path) -> None:
    before = source_fingerprint(root=project)
    (project / "lambdas" / "shared" / "__pycache__").mkdir(exist_ok=True)
    (project / "lambdas" / "shared" / "__pycache__" / "config.cpython-311.pyc").write_bytes(b"\0")
    assert source_fingerprint(root=project) == before


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)


@pytest.mark.skipif(_git("rev-parse", "--is-inside-work-tree").returncode != 0, reason="not a git work tree")
def test_build_metadata_is_neither_committed_nor_committable() -> None:
    # pip install -e . writes hubspoke.egg-info/; it describes one machine's install, not the source.
    assert _git("ls-files", "hubspoke.egg-info").stdout == ""
    assert _git("check-ignore", "-q", "hubspoke.egg-info/PKG-INFO").returncode == 0
