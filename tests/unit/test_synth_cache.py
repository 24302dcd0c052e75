"""The local synth cache's fingerprint: any change to what the synthesized stack or its asset depends on
must give a new fingerprint, or a stale template or Lambda asset is reused."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
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


def _blocked_on(lock: Path) -> bool:
    """Some process or thread waits for an flock on `lock` (Linux lists waiters in /proc/locks with '->')."""
    inode = f":{lock.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks to see a waiter")
def test_two_workers_on_one_cache_synthesize_a_fingerprint_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a synthesis that holds until told (jsii takes tens of seconds; what matters is who waits for whom)
    from hubspoke import synth

    calls: list[Path] = []
    inside, release = threading.Event(), threading.Event()

    def synthesize(outdir: Path, overrides: object = None) -> synth.SynthesizedStack:
        calls.append(outdir)
        inside.set()
        assert release.wait(60)
        outdir.mkdir()
        template = {"Resources": {"Only": {"Type": "AWS::SNS::Topic"}}}
        (outdir / f"{synth.STACK_NAME}.template.json").write_text(json.dumps(template))
        return synth.SynthesizedStack(template=template, outdir=outdir)

    monkeypatch.setattr(synth, "synthesize", synthesize)
    results: list[synth.SynthesizedStack] = []
    first = threading.Thread(target=lambda: results.append(synth.synthesize_cached(tmp_path)))
    first.start()
    assert inside.wait(60)
    # WHEN a second worker asks for the same fingerprint while the first is still synthesizing
    lock = tmp_path / f".{synth.source_fingerprint()}.lock"
    second = threading.Thread(target=lambda: results.append(synth.synthesize_cached(tmp_path)))
    second.start()
    deadline = time.monotonic() + 60
    while not _blocked_on(lock) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the waiter to appear, not timing anything
    assert _blocked_on(lock)
    release.set()
    first.join(60)
    second.join(60)
    # THEN it waited for the first synthesis and reused it: one synthesis, one template for both
    assert len(calls) == 1
    assert [r.template for r in results] == [results[0].template] * 2
    assert all(r.outdir == tmp_path / synth.source_fingerprint() for r in results)
