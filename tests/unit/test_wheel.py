"""The product wheel ships the product only: no test double (devtools/), and no command that serves one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hubspoke.cli import app

ROOT = Path(__file__).resolve().parents[2]
# What the wheel holds at its top level: the product's two packages and the wheel's own metadata.
PRODUCT_TOP_LEVEL = {"hubspoke", "stacks", "hubspoke-0.1.0.dist-info"}
LOCAL_COMMANDS = {"run", "event"}  # the product's `hubspoke local` commands a user is told about in the README


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The file names in a wheel built offline from a copy of the checkout (devtools/ included in the copy)."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)
    for package in ("hubspoke", "stacks", "devtools"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    # Offline: the build backend comes from the venv, nothing is downloaded (about 3-7 s on this machine).
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*command, "-q", "-w", str(out)], check=True, capture_output=True, cwd=source)
    (wheel,) = out.glob("hubspoke-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_ships_the_product_packages_and_no_test_double(wheel_names):
    assert {name.split("/", 1)[0] for name in wheel_names} == PRODUCT_TOP_LEVEL
    assert "hubspoke/cli.py" in wheel_names
    assert "stacks/hubspoke_stack.py" in wheel_names
    assert [n for n in wheel_names if n.startswith("devtools/")] == []
    assert [n for n in wheel_names if "server" in n.rsplit("/", 1)[-1] or "github_server" in n] == []
    assert "hubspoke/cli_github.py" not in wheel_names


def test_the_product_cli_has_no_github_server_command():
    runner = CliRunner()
    top = runner.invoke(app, ["--help"], terminal_width=200)
    local = runner.invoke(app, ["local", "--help"], terminal_width=200)
    assert (top.exit_code, local.exit_code) == (0, 0)
    assert "github-server" not in top.output + local.output
    assert set(local.output.split()) >= LOCAL_COMMANDS
    assert runner.invoke(app, ["local", "github-server"]).exit_code == 2  # "No such command"
