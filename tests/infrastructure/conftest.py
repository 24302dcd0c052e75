"""The synthesized template's state machine definition, with intrinsics replaced by readable placeholders."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Ref" in part:
        return "aws" if part["Ref"] == "AWS::Partition" else f"<{part['Ref']}>"
    if "Fn::GetAtt" in part:
        return f"<{'.'.join(part['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected intrinsic {part}")


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def only(template: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    (item,) = resources(template, type_).items()
    return item


def definition_of(template: dict[str, Any]) -> dict[str, Any]:
    """The template's one state machine definition, parsed, with intrinsics as placeholders."""
    _, sm = only(template, "AWS::StepFunctions::StateMachine")
    sep, parts = sm["Properties"]["DefinitionString"]["Fn::Join"]
    parsed: dict[str, Any] = json.loads(sep.join(_placeholder(p) for p in parts))
    return parsed


@pytest.fixture(scope="session")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    return definition_of(template)


@pytest.fixture(scope="session")
def states(definition: dict[str, Any]) -> dict[str, Any]:
    """Every state by name, the Map's item processor states included."""
    found: dict[str, Any] = {}

    def walk(states_: dict[str, Any]) -> None:
        for name, state in states_.items():
            found[name] = state
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"]["States"])

    walk(definition["States"])
    return found


def load_app_module() -> ModuleType:
    """app.py itself, the file `cdk` runs (loaded by path: `app` is too common a module name to import)."""
    spec = importlib.util.spec_from_file_location("hubspoke_cdk_app", Path(__file__).parents[2] / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
