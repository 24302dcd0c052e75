"""Stack HubSpokeTargetRole: the role a target account holds for HubSpoke, deployed into each target account.

It trusts exactly the hub deployment's Hub, Spoke and Indexer function roles (parameters: the hub's account and
those roles' ARNs, the main stack's outputs), with the deployment's external id when it has one, and may do only
what HubSpoke's sources and operations do in a target account: discover ECS clusters and services
(`ecs-clusters`, the image index), restart services (`ecs-restart`) and run one-off tasks (`ecs-run-task`), and
find EKS clusters and their endpoints (`eks-clusters`, the image index on Kubernetes).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnParameter, DefaultStackSynthesizer, Duration, Stack, Stage
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.common import cfn
from stacks.nag import acknowledge
from stacks.settings import Settings

TARGET_ROLE_STACK_NAME = "HubSpokeTargetRole"
MAX_SESSION_HOURS = 1
# The hub's function roles, as the main stack outputs them (TrustedRoleArns).
TRUSTED_FUNCTIONS = ("Hub", "Spoke", "Indexer")


def _arn(service: str, resource: str) -> str:
    """An ARN in this (the target) account, any region: the hub reaches every region of the account."""
    return f"arn:{Aws.PARTITION}:{service}:*:{Aws.ACCOUNT_ID}:{resource}"


def _nag_arn(service: str, resource: str) -> str:
    return f"arn:<AWS::Partition>:{service}:*:<AWS::AccountId>:{resource}"


def operation_statements() -> list[iam.PolicyStatement]:
    """What HubSpoke does in a target account, and nothing else."""
    return [
        # No resource type (Service Authorization Reference for Amazon ECS): '*' is the only resource that matches.
        # ListTasks names container-instance as its resource, which a Fargate task has none of; it is scoped by
        # its cluster parameter instead, as ListServices is.
        iam.PolicyStatement(
            sid="Discover",
            actions=["ecs:ListClusters", "ecs:ListServices", "ecs:ListTasks", "ecs:DescribeTaskDefinition"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="DescribeClusters", actions=["ecs:DescribeClusters"], resources=[_arn("ecs", "cluster/*")]
        ),
        iam.PolicyStatement(
            sid="Services", actions=["ecs:DescribeServices", "ecs:UpdateService"], resources=[_arn("ecs", "service/*")]
        ),
        iam.PolicyStatement(sid="RunTask", actions=["ecs:RunTask"], resources=[_arn("ecs", "task-definition/*")]),
        iam.PolicyStatement(sid="DescribeTasks", actions=["ecs:DescribeTasks"], resources=[_arn("ecs", "task/*")]),
        # RunTask's tags (run and target, how a retry finds the task it started) need TagResource, on tasks being
        # created by RunTask only.
        iam.PolicyStatement(
            sid="TagTasksAtRunTask",
            actions=["ecs:TagResource"],
            resources=[_arn("ecs", "task/*")],
            conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
        ),
        # A task definition's task and execution roles are passed at RunTask: to ECS tasks only.
        # EKS ListClusters supports no resource-level permissions; DescribeCluster takes the cluster's ARN
        # (Service Authorization Reference for Amazon EKS). What the role may do inside a cluster is the cluster's
        # own access entry and Kubernetes RBAC, not IAM.
        iam.PolicyStatement(sid="ListEksClusters", actions=["eks:ListClusters"], resources=["*"]),
        iam.PolicyStatement(
            sid="DescribeEksClusters", actions=["eks:DescribeCluster"], resources=[_arn("eks", "cluster/*")]
        ),
        iam.PolicyStatement(
            sid="PassTaskRoles",
            actions=["iam:PassRole"],
            resources=[f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/*"],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
    ]


_WILDCARDS = {
    "*": "ListClusters, ListServices, ListTasks and DescribeTaskDefinition support no resource-level permissions "
    "(Service Authorization Reference for Amazon ECS), nor does EKS ListClusters; they read only.",
    _nag_arn("eks", "cluster/*"): "DescribeCluster on the EKS clusters of this account: eks-clusters and the image "
    "index discover them by name pattern and tags, so their names are not known when the role is deployed.",
    _nag_arn("ecs", "cluster/*"): "DescribeClusters on the clusters of this account: ecs-clusters discovers them by "
    "name pattern and tags, so their names are not known when the role is deployed.",
    _nag_arn("ecs", "service/*"): "DescribeServices and UpdateService (ecs-restart, the image index) on the services "
    "of this account's clusters, which come and go after the role is deployed.",
    _nag_arn("ecs", "task-definition/*"): "RunTask (ecs-run-task) of the task definition family a run names; "
    "families and revisions are chosen per run.",
    _nag_arn("ecs", "task/*"): "DescribeTasks of the tasks ecs-run-task started, and TagResource only while RunTask "
    "creates them (ecs:CreateAction); task ids are generated by ECS.",
    "arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*": "PassRole only to ecs-tasks.amazonaws.com "
    "(iam:PassedToService): the task and execution roles of whichever task definition a run names.",
}


class TargetRoleStack(Stack):
    """The HubSpoke role of one target account (deploy it there, or as a StackSet)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        # No bootstrap version rule: a StackSet, or `aws cloudformation deploy`, can create the template in an
        # account CDK never bootstrapped (the template has no assets).
        super().__init__(
            scope,
            construct_id,
            synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
            description="HubSpoke target role: lets a HubSpoke deployment's functions work in this account",
            **kwargs,
        )
        cross = settings.cross_account
        hub_account = CfnParameter(
            self,
            "HubAccountId",
            type="String",
            allowed_pattern=r"^[0-9]{12}$",
            description="The account HubSpoke is deployed in",
        )
        trusted = CfnParameter(
            self,
            "TrustedRoleArns",
            type="CommaDelimitedList",
            description="The HubSpoke stack's output TrustedRoleArns: its Hub, Spoke and Indexer function roles",
        )
        conditions: dict[str, Any] = {"ArnEquals": {"aws:PrincipalArn": trusted.value_as_list}}
        if cross.external_id:
            external_id = CfnParameter(
                self,
                "ExternalId",
                type="String",
                default=cross.external_id,
                min_length=2,
                max_length=1224,
                allowed_pattern=r"^[\w+=,.@:/-]+$",
                description="The HubSpoke deployment's cross_account.external_id (sts:ExternalId)",
            )
            conditions["StringEquals"] = {"sts:ExternalId": external_id.value_as_string}
        # The hub account as principal, narrowed to the trusted roles by aws:PrincipalArn: a role ARN named as
        # principal is stored as the role's unique id, so replacing a function role would break the trust.
        self.role = iam.Role(
            self,
            "Role",
            role_name=cross.role_name,
            description="HubSpoke: ECS discovery, restarts and one-off tasks for a HubSpoke deployment",
            assumed_by=iam.AccountPrincipal(hub_account.value_as_string).with_conditions(conditions),
            max_session_duration=Duration.hours(MAX_SESSION_HOURS),
            inline_policies={"HubSpokeOperations": iam.PolicyDocument(statements=operation_statements())},
        )
        for resource, reason in _WILDCARDS.items():
            acknowledge(cfn(self.role), f"AwsSolutions-IAM5[Resource::{resource}]", reason)


def add_target_role_stage(app: Construct, settings: Settings) -> Stack:
    """Stack HubSpokeTargetRole in a stage of its own: `cdk deploy` alone still deploys only the HubSpoke stack,
    and `cdk deploy 'HubSpokeTargetRole/*'` this one."""
    stage = Stage(app, TARGET_ROLE_STACK_NAME)
    return TargetRoleStack(stage, TARGET_ROLE_STACK_NAME, settings=settings, stack_name=TARGET_ROLE_STACK_NAME)
