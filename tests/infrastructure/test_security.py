"""Security checks on the synthesized stack: cdk-nag (AwsSolutions, Serverless) and cfn-lint, both clean."""

from __future__ import annotations

import json

import pytest
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from cfnlint.api import ManualArgs, lint

from hubspoke.synth import build_app
from stacks.nag import MIN_REASON_LENGTH


@pytest.fixture(scope="module")
def app_and_stack(tmp_path_factory):
    return build_app(tmp_path_factory.mktemp("nag"))


@pytest.mark.parametrize("pack", [AwsSolutionsChecks, ServerlessChecks])
def test_cdk_nag_has_no_unacknowledged_findings(app_and_stack, pack):
    app, stack = app_and_stack
    report = pack(app).validate_scope(stack)
    findings = [
        f"{v.rule_name} at {[r.construct_path for r in v.violating_resources]}: {v.description[:120]}"
        for v in report.violations
    ]
    assert findings == []
    assert report.success


def test_every_acknowledgment_is_narrow_and_explained(app_and_stack):
    _, stack = app_and_stack
    acknowledgments = stack.acknowledgments
    assert acknowledgments, "expected the acknowledgments the stack makes to be recorded"
    for ack in acknowledgments:
        assert len(ack.reason) >= MIN_REASON_LENGTH, ack
        # One resource: the path ends at a CloudFormation resource, not a subtree.
        assert ack.path.endswith("/Resource"), ack
        # One finding: IAM5 findings name the wildcard they accept.
        if ack.rule.startswith("AwsSolutions-IAM5"):
            assert "[Resource::" in ack.rule, ack
    keys = [(a.path, a.rule) for a in acknowledgments]
    assert len(keys) == len(set(keys))


def test_cfn_lint_has_no_errors_or_warnings(app_and_stack):
    app, _ = app_and_stack
    template = app.synth().get_stack_by_name("HubSpoke").template
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []
