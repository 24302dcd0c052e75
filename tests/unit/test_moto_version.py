"""The engine patches private moto internals: it runs only on the moto they were written for."""

from __future__ import annotations

import re
from pathlib import Path

import moto
import pytest

from hubspoke.engine import MOTO_VERSION, LocalEngine, MotoVersionError
from hubspoke.synth import SynthesizedStack

ROOT = Path(__file__).parents[2]


def test_the_engine_refuses_to_start_on_another_moto_and_says_what_to_do(monkeypatch, tmp_path):
    # GIVEN a moto other than the one the patches were written for
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    # WHEN an engine starts THEN it refuses before patching anything, naming both versions and the fix
    with pytest.raises(MotoVersionError) as raised, LocalEngine(SynthesizedStack(template={}, outdir=tmp_path)):
        pass
    message = str(raised.value)
    assert "moto 5.3.0 is installed" in message
    assert "private internals of moto 5.2.5" in message
    assert "pip install -c constraints.txt" in message
    assert "MOTO_VERSION and the moto pin in constraints.txt" in message


def test_the_patches_are_written_for_the_pinned_moto():
    # GIVEN constraints.txt's pin WHEN compared with the version the patches name THEN they are the same
    (pin,) = re.findall(r"^moto==(\S+)", (ROOT / "constraints.txt").read_text(), flags=re.MULTILINE)
    assert pin == MOTO_VERSION == "5.2.5"
