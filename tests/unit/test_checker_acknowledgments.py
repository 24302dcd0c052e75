"""stacks/checkers.py writes acknowledgments where checkov and cfn-lint read them, one finding at a time, each
with a reason; a short reason or the same finding twice is refused when the stack is built."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from hubspoke.synth import _ensure_node_on_path
from stacks.checkers import ignore_cfn_lint, skip_checkov
from stacks.common import cfn

REASON = "A reason long enough to be read as one."


def _queue() -> tuple[cdk.App, cdk.CfnResource]:
    _ensure_node_on_path()
    app = cdk.App()
    stack = cdk.Stack(app, "Unit")
    return app, cfn(sqs.Queue(stack, "Queue"))


def test_acknowledgments_land_in_each_tools_metadata_format():
    # GIVEN a queue with two checkov skips and two cfn-lint ignores
    app, queue = _queue()
    skip_checkov(queue, "CKV_AWS_27", REASON)
    skip_checkov(queue, "CKV_AWS_999", REASON + " Another.")
    ignore_cfn_lint(queue, "ES6000", REASON)
    ignore_cfn_lint(queue, "W3011", REASON + " Another.")
    # WHEN synthesized THEN checkov's `skip` list and cfn-lint's `ignore_checks` hold both, the reasons beside them
    (resource,) = app.synth().get_stack_by_name("Unit").template["Resources"].values()
    assert resource["Metadata"] == {
        "checkov": {
            "skip": [
                {"id": "CKV_AWS_27", "comment": REASON},
                {"id": "CKV_AWS_999", "comment": REASON + " Another."},
            ]
        },
        "cfn-lint": {
            "config": {"ignore_checks": ["ES6000", "W3011"]},
            "reasons": {"ES6000": REASON, "W3011": REASON + " Another."},
        },
    }


@pytest.mark.parametrize("acknowledge", [skip_checkov, ignore_cfn_lint])
def test_a_short_reason_is_refused(acknowledge):
    _, queue = _queue()
    with pytest.raises(ValueError, match="at least 20 characters"):
        acknowledge(queue, "CKV_AWS_27", "too short")


@pytest.mark.parametrize("acknowledge", [skip_checkov, ignore_cfn_lint])
def test_the_same_finding_twice_is_refused(acknowledge):
    _, queue = _queue()
    acknowledge(queue, "ES6000", REASON)
    with pytest.raises(ValueError, match="already"):
        acknowledge(queue, "ES6000", REASON)
