"""`cdk synth` and `cdk deploy` (app.py) run cdk-nag's AwsSolutions and Serverless packs, so a resource a
user adds without meeting them, or acknowledging the finding, stops the synth with the finding named."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_sqs as sqs

from hubspoke.synth import _ensure_node_on_path, project_context

from .conftest import load_app_module


def test_synth_reports_a_finding_on_an_unacknowledged_resource_a_user_adds(tmp_path):
    # GIVEN the app as `cdk synth` builds it, plus a queue a user adds: no TLS-only policy, no DLQ
    _ensure_node_on_path()
    app, stack = load_app_module().create_app(outdir=str(tmp_path), context=project_context())
    sqs.Queue(stack, "UserAddedQueue")
    # WHEN it is synthesized THEN the synth fails and the validation report names the findings on that queue
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    findings = {
        (violation["ruleName"], resource["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for resource in violation["violatingConstructs"]
    }
    assert ("AwsSolutions-SQS4", "HubSpoke/UserAddedQueue/Resource") in findings
    assert ("Serverless-SQSRedrivePolicy", "HubSpoke/UserAddedQueue/Resource") in findings
    # Nothing else: the stack's own resources are clean (or acknowledged one finding at a time).
    assert {path for _, path in findings} == {"HubSpoke/UserAddedQueue/Resource"}
