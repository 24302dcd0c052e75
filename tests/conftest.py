"""Shared fixtures: one synthesized stack per session, moto credentials, the local engine."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# pytest-xdist's workers start with COLUMNS=80 in their environment (a plain pytest process has none here); a Rich
# console made while it is set keeps 80 columns for good, whatever COLUMNS a test sets later. Dropped before any
# console exists, so a worker's consoles size themselves as a plain run's do.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)

from hubspoke.engine import LocalEngine
from hubspoke.synth import SynthesizedStack, synthesize_cached, watching
from tests.trace_installs import serialize_trace_installs

# Coverage on Python 3.11: a thread's trace install could lose a race and kill the thread (tests/trace_installs.py).
serialize_trace_installs()

EVENTS_DIR = Path(__file__).parent / "events"
# The repositories the test events and examples/ecr-push-web.json push to. cdk.json watches none (a first
# deploy arms no trigger), so the image-push tests run on a stack deployed with these watched.
WATCHED_REPOSITORIES = ["web", "api"]
WATCHED_PREFIXES = ["team-"]
# The same stack from the CLI: `hubspoke local event` with these options synthesizes the same overrides.
WATCH_OPTIONS = ["--repository", "web", "--repository", "api", "--repository-prefix", "team-"]


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can ever reach a real account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's synth cache. Under pytest-xdist each worker has a temporary folder of its own inside the
    session's: the workers share one cache there, and synthesize_cached lets one synthesize a stack while the
    others wait for it (each would otherwise pay jsii's start-up and CDK's bundling for the same templates)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "synth"
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="session")
def stack(synth_cache: Path) -> SynthesizedStack:
    """The real stack, synthesized once per session (jsii start-up costs seconds)."""
    return synthesize_cached(synth_cache)


@pytest.fixture(scope="session")
def watched_stack(synth_cache: Path) -> SynthesizedStack:
    """The stack deployed with image pushes to web, api and team-* watched, in the session's synth cache (so
    `hubspoke local event` with WATCH_OPTIONS finds it there)."""
    return synthesize_cached(synth_cache, watching(WATCHED_REPOSITORIES, WATCHED_PREFIXES))


@pytest.fixture(scope="session")
def template(stack: SynthesizedStack) -> dict[str, Any]:
    return stack.template


@pytest.fixture
def engine(stack: SynthesizedStack, tmp_path: Path) -> Iterator[LocalEngine]:
    """A fresh local engine (fresh moto state) on the session's stack."""
    with LocalEngine(stack, time_scale=0.01, log_path=tmp_path / "lambda.log") as eng:
        yield eng


def load_event(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text())
