"""Targets in other accounts, the IAM side: which roles the hub's functions may assume (least privilege), the
stack HubSpokeTargetRole a target account deploys (trust, permissions), and the outputs that connect the two."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from cfnlint.api import ManualArgs, lint

from hubspoke.synth import build_app, synthesize_cached
from tests.iam import Call, allows, function_statements, policy_documents

from .test_iam_policies import lint as parliament

HUB_ACCOUNT = "123456789012"  # tests/iam.py's plausible account: the hub's
TARGET = "210987654321"
OTHER = "555566667777"
ORG = "o-abcdefghij"
CROSS = {
    "role_name": "ops-hubspoke",
    "external_id": "hubspoke-ext-7f3a",
    "accounts": [TARGET, "210987654322"],
    "organization_id": ORG,
}
TRUSTED = [
    f"arn:aws:iam::{HUB_ACCOUNT}:role/hub-role",
    f"arn:aws:iam::{HUB_ACCOUNT}:role/spoke-role",
    f"arn:aws:iam::{HUB_ACCOUNT}:role/indexer-role",
]
ASSUMING = ("hub.", "spoke.", "indexer.")


def role(account: str, name: str = "hubspoke-target") -> str:
    return f"arn:aws:iam::{account}:role/{name}"


@pytest.fixture(scope="module")
def cross_stack(synth_cache):
    """The stack deployed with every cross_account setting given."""
    return synthesize_cached(synth_cache, {"cross_account": CROSS})


def assume_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if "sts:AssumeRole" in json.dumps(s.get("Action"))]


# -- the functions' side ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ASSUMING)
def test_functions_may_assume_the_target_role_name_in_any_account_by_default(template, handler):
    statements = function_statements(template, handler)
    assert assume_statements(statements) == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": "arn:aws:iam::*:role/hubspoke-target"}
    ]
    assert allows(statements, Call("sts:AssumeRole", (role(TARGET),)))
    assert not allows(statements, Call("sts:AssumeRole", (role(TARGET, "Admin"),)))
    assert not allows(statements, Call("sts:AssumeRole", (f"arn:aws:iam::{TARGET}:role/x/hubspoke-target",)))


@pytest.mark.parametrize("handler", ["gate.", "summarize."])
def test_functions_that_never_leave_the_account_may_assume_nothing(template, handler):
    assert assume_statements(function_statements(template, handler)) == []


@pytest.mark.parametrize("handler", ASSUMING)
def test_listed_accounts_and_organization_narrow_the_assume(cross_stack, handler):
    statements = function_statements(cross_stack.template, handler)
    assert assume_statements(statements) == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:ResourceOrgID": ORG}},
            "Effect": "Allow",
            "Resource": [role(TARGET, "ops-hubspoke"), role("210987654322", "ops-hubspoke")],
        }
    ]
    in_org = {"aws:ResourceOrgID": ORG}
    assert allows(statements, Call("sts:AssumeRole", (role(TARGET, "ops-hubspoke"),), in_org))
    # Outside the organization (or in an account outside any: no aws:ResourceOrgID at all): refused.
    assert not allows(statements, Call("sts:AssumeRole", (role(TARGET, "ops-hubspoke"),), {"aws:ResourceOrgID": "o-x"}))
    assert not allows(statements, Call("sts:AssumeRole", (role(TARGET, "ops-hubspoke"),)))
    # An account not listed, or the default name: refused.
    assert not allows(statements, Call("sts:AssumeRole", (role(OTHER, "ops-hubspoke"),), in_org))
    assert not allows(statements, Call("sts:AssumeRole", (role(TARGET),), in_org))


def test_the_main_stack_names_the_roles_a_target_role_trusts(template):
    outputs = template["Outputs"]
    roles = {}
    for function in template["Resources"].values():
        if function["Type"] == "AWS::Lambda::Function":
            handler = function["Properties"]["Handler"].partition(".")[0]
            roles[handler] = function["Properties"]["Role"]
    assert outputs["HubRoleArn"]["Value"] == roles["hub"]
    assert outputs["SpokeRoleArn"]["Value"] == roles["spoke"]
    assert outputs["IndexerRoleArn"]["Value"] == roles["indexer"]
    assert outputs["TrustedRoleArns"]["Value"] == {"Fn::Join": [",", [roles["hub"], roles["spoke"], roles["indexer"]]]}
    # The outputs the client reads are still there (hubspoke/client/deployment.py OUTPUTS).
    assert {"StateMachineArn", "BucketName", "AlarmTopicArn", "LedgerTableName"} <= set(outputs)


# -- stack HubSpokeTargetRole ------------------------------------------------------------------------------------


def target_role(template: dict[str, Any]) -> dict[str, Any]:
    (resource,) = template["Resources"].values()
    assert resource["Type"] == "AWS::IAM::Role"
    props: dict[str, Any] = resource["Properties"]
    return props


def resolved(template: dict[str, Any], external_id: str | None = None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"HubAccountId": HUB_ACCOUNT, "TrustedRoleArns": TRUSTED}
    if external_id is not None:
        parameters["ExternalId"] = external_id
    return {d.kind: d.document for d in policy_documents(template, parameters)}


EXPECTED_OPERATIONS = [
    {
        "Sid": "Discover",
        "Effect": "Allow",
        "Action": ["ecs:DescribeTaskDefinition", "ecs:ListClusters", "ecs:ListServices", "ecs:ListTasks"],
        "Resource": "*",
    },
    {
        "Sid": "DescribeClusters",
        "Effect": "Allow",
        "Action": "ecs:DescribeClusters",
        "Resource": f"arn:aws:ecs:*:{HUB_ACCOUNT}:cluster/*",
    },
    {
        "Sid": "Services",
        "Effect": "Allow",
        "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
        "Resource": f"arn:aws:ecs:*:{HUB_ACCOUNT}:service/*",
    },
    {
        "Sid": "RunTask",
        "Effect": "Allow",
        "Action": "ecs:RunTask",
        "Resource": f"arn:aws:ecs:*:{HUB_ACCOUNT}:task-definition/*",
    },
    {
        "Sid": "DescribeTasks",
        "Effect": "Allow",
        "Action": "ecs:DescribeTasks",
        "Resource": f"arn:aws:ecs:*:{HUB_ACCOUNT}:task/*",
    },
    {
        "Sid": "TagTasksAtRunTask",
        "Effect": "Allow",
        "Action": "ecs:TagResource",
        "Resource": f"arn:aws:ecs:*:{HUB_ACCOUNT}:task/*",
        "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
    },
    {"Sid": "ListEksClusters", "Effect": "Allow", "Action": "eks:ListClusters", "Resource": "*"},
    {
        "Sid": "DescribeEksClusters",
        "Effect": "Allow",
        "Action": "eks:DescribeCluster",
        "Resource": f"arn:aws:eks:*:{HUB_ACCOUNT}:cluster/*",
    },
    {
        "Sid": "PassTaskRoles",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::{HUB_ACCOUNT}:role/*",
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    },
]


def test_target_role_trusts_the_hub_accounts_function_roles_only(stack):
    template = stack.target_role_template()
    props = target_role(template)
    assert props["RoleName"] == "hubspoke-target"
    assert props["MaxSessionDuration"] == 3600
    assert set(template["Parameters"]) == {"HubAccountId", "TrustedRoleArns"}
    assert template["Parameters"]["TrustedRoleArns"]["Type"] == "CommaDelimitedList"
    # No external id in the deployment's settings: the trust rests on the principal ARNs alone.
    assert resolved(template)["trust"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{HUB_ACCOUNT}:root"},
                "Condition": {"ArnEquals": {"aws:PrincipalArn": TRUSTED}},
            }
        ],
    }


def test_target_role_requires_the_deployments_external_id(cross_stack):
    template = cross_stack.target_role_template()
    props = target_role(template)
    assert props["RoleName"] == "ops-hubspoke"
    assert template["Parameters"]["ExternalId"]["Default"] == "hubspoke-ext-7f3a"
    (statement,) = resolved(template, "given-at-deploy")["trust"]["Statement"]
    assert statement["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": TRUSTED},
        "StringEquals": {"sts:ExternalId": "given-at-deploy"},
    }


def test_target_role_may_do_only_what_hubspokes_operations_do(stack):
    # (tests/iam.py resolves AWS::AccountId to its one account; deployed, it is the target account's own.)
    document = resolved(stack.target_role_template())["identity"]

    def key(statement: object) -> str:
        return json.dumps(statement, sort_keys=True)

    assert sorted(map(key, document["Statement"])) == sorted(map(key, EXPECTED_OPERATIONS))
    statements = document["Statement"]
    account = HUB_ACCOUNT
    assert allows(
        statements,
        Call("ecs:TagResource", (f"arn:aws:ecs:eu-west-1:{account}:task/c/1",), {"ecs:CreateAction": "RunTask"}),
    )
    assert not allows(statements, Call("ecs:TagResource", (f"arn:aws:ecs:eu-west-1:{account}:task/c/1",)))
    assert not allows(
        statements,
        Call("ecs:TagResource", (f"arn:aws:ecs:eu-west-1:{account}:service/c/web",), {"ecs:CreateAction": "RunTask"}),
    )
    assert not allows(
        statements,
        Call("iam:PassRole", (f"arn:aws:iam::{account}:role/task",), {"iam:PassedToService": "lambda.amazonaws.com"}),
    )
    assert not allows(statements, Call("ecs:DeleteService", (f"arn:aws:ecs:eu-west-1:{account}:service/c/web",)))
    # EKS: find clusters and read their endpoint, never change one (what runs inside is RBAC's, not IAM's).
    assert allows(statements, Call("eks:DescribeCluster", (f"arn:aws:eks:eu-west-1:{account}:cluster/prod",)))
    assert not allows(statements, Call("eks:DescribeCluster", (f"arn:aws:eks:eu-west-1:{OTHER}:cluster/prod",)))
    assert not allows(statements, Call("eks:UpdateClusterConfig", (f"arn:aws:eks:eu-west-1:{account}:cluster/prod",)))
    assert not allows(statements, Call("eks:CreateAccessEntry", (f"arn:aws:eks:eu-west-1:{account}:cluster/prod",)))


@pytest.mark.parametrize("which", ["default", "cross"])
def test_parliament_finds_nothing_in_the_target_role(stack, cross_stack, which):
    template = (stack if which == "default" else cross_stack).target_role_template()
    problems = []
    for kind, document in resolved(template, "given-at-deploy").items():
        for finding in parliament(document):
            # A trust policy has no Resource (IAM refuses one); accepted as for the main stack's roles.
            if kind == "trust" and finding.issue == "MALFORMED" and "neither Resource" in str(finding.detail):
                continue
            # ListTasks names container-instance* as its resource type, which a Fargate task has none of; AWS's
            # own examples grant it on '*' (scoped, if at all, by ecs:cluster). A container-instance ARN would
            # leave ecs-run-task unable to find the task a retry already started.
            if kind == "identity" and finding.issue == "RESOURCE_STAR" and finding.detail == ["ecs:ListTasks"]:
                continue
            problems.append(f"{kind}: {finding.issue} {finding.detail}")
    assert problems == []


@pytest.fixture(scope="module")
def target_stack(tmp_path_factory):
    app, _ = build_app(tmp_path_factory.mktemp("target"), {"cross_account": CROSS})
    return app.node.find_child("HubSpokeTargetRole").node.find_child("HubSpokeTargetRole")


@pytest.mark.parametrize("pack", [AwsSolutionsChecks, ServerlessChecks])
def test_cdk_nag_has_no_unacknowledged_findings_in_the_target_role(target_stack, pack):
    report = pack(target_stack).validate_scope(target_stack)
    assert [f"{v.rule_name} {[r.construct_path for r in v.violating_resources]}" for v in report.violations] == []
    for ack in target_stack.acknowledgments:
        assert ack.path == "HubSpokeTargetRole/HubSpokeTargetRole/Role/Resource", ack
        assert ack.rule.startswith("AwsSolutions-IAM5[Resource::"), ack


def test_cfn_lint_has_no_errors_or_warnings_in_the_target_role(stack, cross_stack):
    for synthesized in (stack, cross_stack):
        matches = lint(json.dumps(synthesized.target_role_template()), config=ManualArgs(regions=["us-east-1"]))
        assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_the_target_role_template_needs_no_cdk_bootstrap(stack):
    """A StackSet (or `aws cloudformation deploy`) creates it in accounts CDK never bootstrapped."""
    template = stack.target_role_template()
    assert "Rules" not in template
    assert "BootstrapVersion" not in template.get("Parameters", {})
