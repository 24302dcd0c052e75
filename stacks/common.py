"""Small helpers every construct uses, so settings map to CDK values in one place."""

from __future__ import annotations

from aws_cdk import Aws, CfnElement, CfnResource, Fn, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import IConstruct

from stacks.settings import Settings

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(settings: Settings) -> logs.RetentionDays:
    """Settings validate the day count against the same list CloudWatch accepts."""
    return _RETENTION[settings.log_retention_days]


def vended_log_group_name(scope: IConstruct, service: str, purpose: str) -> str:
    """/aws/vendedlogs/<service>/<stack name>-<purpose>-<stack uuid>, for logs an AWS service delivers.

    Under /aws/vendedlogs/ CloudWatch Logs needs no resource-policy entry per log group, so the account's
    5,120-character resource-policy limit cannot fail the deployment (Step Functions best practices). The
    stack name keeps a second copy apart; the stack id's UUID keeps a re-created stack apart from a retained
    log group of a deleted one.
    """
    stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
    return f"/aws/vendedlogs/{service}/{Stack.of(scope).stack_name}-{purpose}-{stack_uuid}"


def removal_policy(settings: Settings) -> RemovalPolicy:
    return RemovalPolicy.DESTROY if settings.removal_policy == "destroy" else RemovalPolicy.RETAIN


def logical_id(resource: IConstruct) -> str:
    """The CloudFormation logical id of a construct's resource, as cdk-nag prints it in finding ids."""
    element = resource if isinstance(resource, CfnElement) else resource.node.default_child
    assert isinstance(element, CfnElement)
    stack = Stack.of(element)
    return str(stack.resolve(stack.get_logical_id(element)))


def cfn(resource: IConstruct) -> CfnResource:
    child = resource.node.default_child
    assert isinstance(child, CfnResource)
    return child


def depend_on_policy_only(resource: IConstruct, role: IConstruct) -> None:
    """Keep DependsOn on the role's policy but drop the role itself, already implied by Fn::GetAtt.

    CDK renders both; cfn-lint reports the role as a redundant dependency (W3005).
    """
    policy = role.node.find_child("DefaultPolicy")
    cfn(resource).add_override("DependsOn", [logical_id(policy)])
