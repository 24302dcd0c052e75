"""Shared fixtures: one synthesized stack per session, moto credentials, the local engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.synth import SynthesizedStack, synthesize_cached

EVENTS_DIR = Path(__file__).parent / "events"


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
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="session")
def stack(synth_cache: Path) -> SynthesizedStack:
    """The real stack, synthesized once per session (jsii start-up costs seconds)."""
    return synthesize_cached(synth_cache)


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
