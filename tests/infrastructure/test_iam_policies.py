"""Every IAM policy of the synthesized stack, linted by parliament with its intrinsics resolved to plausible
ARNs: an action granted on a resource type it does not support (AccessDenied on AWS, invisible on moto), an
unknown action or condition key, a malformed statement. Zero findings, or each acknowledged here with why."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

import pytest

from hubspoke.synth import project_context, synthesize_cached
from tests.iam import Call, PolicyDocument, allows, ecs_arn, function_statements, policy_documents


@dataclass(frozen=True)
class Accepted:
    """A parliament finding accepted on purpose: where (a policy's logical id prefix, or a kind), which
    issue, text its detail contains, and why the policy is right as it is."""

    where: str
    issue: str
    detail: str
    reason: str

    def covers(self, doc: PolicyDocument, finding: Any) -> bool:
        place = doc.kind if self.where in ("trust", "resource", "identity") else doc.logical_id
        return place.startswith(self.where) and finding.issue == self.issue and self.detail in str(finding.detail)


DESCRIBE_EXECUTION_EXPRESS = "'action': 'states:DescribeExecution', 'required_format': 'arn:*:states:*:*:express:"
ACKNOWLEDGED = [
    Accepted(
        "trust",
        "MALFORMED",
        "neither Resource nor NotResource",
        "A role's trust policy has no Resource element (the role itself is the resource; IAM refuses one); "
        "parliament lints it as an identity policy.",
    ),
    Accepted(
        "WorkflowStateMachineDistributedMapPolicy",
        "RESOURCE_MISMATCH",
        DESCRIBE_EXECUTION_EXPRESS,
        "The Service Authorization Reference lists states:DescribeExecution on execution* and express*: "
        "alternatives, one per workflow type. parliament wants both; this is CDK's Distributed Map grant on "
        "the standard child executions of this state machine, which has no express executions.",
    ),
    Accepted(
        "FunctionsHubRunClaims",
        "RESOURCE_MISMATCH",
        DESCRIBE_EXECUTION_EXPRESS,
        "As above (execution* or express*, alternatives): the hub describes the standard execution holding a "
        "run id's claim; the state machine is STANDARD and has no express executions.",
    ),
    Accepted(
        "FunctionsSpokeRoleDefaultPolicy",
        "RESOURCE_STAR",
        "ecs:ListTasks",
        "ecs:ListTasks is listed on container-instance*, which a Fargate task has none of and a listing by "
        "startedBy names none; AWS's own fix (aws-cdk #3199) and its examples grant it on '*' with the ecs:cluster "
        "condition, which here names only this account's clusters (ecs-run-task looks for its earlier task).",
    ),
]
CLUSTERS = ["prod-us", "prod-eu"]


def lint(document: dict[str, Any]) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # parliament imports pkg_resources
        from parliament import analyze_policy_string

    return list(analyze_policy_string(json.dumps(document)).findings)


@pytest.fixture(scope="module")
def clustered_template(synth_cache):
    """The stack as deployed with image_push.clusters set: ListServices carries an ecs:cluster condition."""
    image_push = {**project_context()["hubspoke"]["image_push"], "clusters": CLUSTERS}
    return synthesize_cached(synth_cache, {"image_push": image_push}).template


def findings(template: dict[str, Any]) -> list[str]:
    problems = []
    for doc in policy_documents(template):
        for finding in lint(doc.document):
            if any(accepted.covers(doc, finding) for accepted in ACKNOWLEDGED):
                continue
            problems.append(f"{doc.logical_id} ({doc.kind}): {finding.issue} {finding.detail}")
    return problems


def test_every_acknowledgment_is_used_and_explained(template):
    used = {
        accepted
        for doc in policy_documents(template)
        for finding in lint(doc.document)
        for accepted in ACKNOWLEDGED
        if accepted.covers(doc, finding)
    }
    assert used == set(ACKNOWLEDGED)
    assert all(len(a.reason) >= 40 for a in ACKNOWLEDGED)


def test_policies_are_found_and_resolved(template):
    docs = policy_documents(template)
    kinds = {d.kind for d in docs}
    assert kinds == {"identity", "trust", "resource"}
    text = json.dumps([d.document for d in docs])
    assert "Fn::" not in text
    assert '"Ref"' not in text
    assert "arn:aws:ecs:us-east-1:123456789012:" in text


def test_parliament_finds_nothing_in_any_policy(template):
    assert findings(template) == []


def test_parliament_finds_nothing_with_clusters_configured(clustered_template):
    assert findings(clustered_template) == []


def test_parliament_reports_a_list_action_granted_on_a_cluster_arn():
    """The fault this file exists for: ecs:ListServices supports no resource type, so a grant on cluster
    ARNs never matches (AccessDenied on AWS); parliament says RESOURCE_MISMATCH."""
    wrong = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecs:ListServices", "Resource": ecs_arn("cluster", "*")}],
    }
    assert [f.issue for f in lint(wrong)] == ["RESOURCE_MISMATCH"]


@pytest.mark.parametrize("handler", ["indexer.", "hub."])
def test_list_services_is_allowed_only_in_the_configured_clusters(clustered_template, handler):
    statements = function_statements(clustered_template, handler)
    for cluster in CLUSTERS:
        assert allows(statements, Call("ecs:ListServices", ("*",), {"ecs:cluster": ecs_arn("cluster", cluster)}))
    assert not allows(statements, Call("ecs:ListServices", ("*",), {"ecs:cluster": ecs_arn("cluster", "other")}))
