"""cdk-nag acknowledgments: the one way to accept a finding, and the state machine's accepted findings.

Other constructs acknowledge findings beside the resource they concern, through `acknowledge` here; the
workflow's, which all come from CDK's own Step Functions grants, are listed in `acknowledge_state_machine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment as CdkAcknowledgment
from aws_cdk import CfnResource, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn

from stacks.common import cfn, logical_id

MIN_REASON_LENGTH = 20


@dataclass(frozen=True)
class NagAcknowledgment:
    """One cdk-nag finding accepted on one resource, with the evidence why."""

    path: str
    rule: str
    reason: str


def acknowledge(resource: CfnResource, rule: str, reason: str) -> None:
    """Acknowledge one finding (rule id with its [finding]) on one CloudFormation resource.

    Kept narrow on purpose: a resource, not a subtree; a finding, not a rule. Recorded on the stack so
    tests can check every acknowledgment and its reason.
    """
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgment of {rule} needs a reason of at least {MIN_REASON_LENGTH} characters")
    Validations.of(resource).acknowledge(CdkAcknowledgment(id=rule, reason=reason))
    stack = Stack.of(resource)
    registry: list[NagAcknowledgment] = getattr(stack, "acknowledgments", [])
    registry.append(NagAcknowledgment(resource.node.path, rule, reason))
    stack.acknowledgments = registry  # type: ignore[attr-defined]


def _acknowledge_role_policy(
    machine: sfn.StateMachine, bucket: s3.IBucket, invoked: Sequence[lambda_.IFunction]
) -> None:
    policy = cfn(machine.role.node.find_child("DefaultPolicy"))
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "Tracing is enabled: xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules and "
        "GetSamplingTargets support no resource-level permissions (X-Ray IAM reference).",
    )
    for function in invoked:
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
            f"LambdaInvoke grants lambda:InvokeFunction on the {function.node.id} function and its versions "
            "and aliases (<arn>:*); one function, no other.",
        )
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<{logical_id(bucket)}>/*]",
        "The Distributed Map's ItemReader reads the run manifest (S3JsonItemReader grants s3:GetObject) and its "
        "ResultWriter writes the children's results (s3:PutObject and multipart upload actions) in this stack's "
        "bucket, under keys chosen per run and per Map Run.",
    )


def _acknowledge_map_policy(machine: sfn.StateMachine, map_label: str) -> None:
    execution = (
        'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":'
        f'[":",{{"Ref":"{logical_id(machine)}"}}]}}]}}'
    )
    map_policy = cfn(machine.node.find_child("DistributedMapPolicy"))
    for suffix in (":*", f"/{map_label}:*"):
        acknowledge(
            map_policy,
            f"AwsSolutions-IAM5[Resource::{execution}{suffix}]",
            "A Distributed Map starts and watches child executions of this same state machine; their "
            "names are generated per run, so CDK grants on this machine's executions only.",
        )


def acknowledge_state_machine(
    machine: sfn.StateMachine, *, bucket: s3.IBucket, invoked: Sequence[lambda_.IFunction], map_label: str
) -> None:
    """The state machine role's wildcards all come from CDK's own grants; each is named and explained:
    X-Ray, the `invoked` functions' versions, the Map's objects in `bucket`, and the Map's (labelled
    `map_label`) child executions."""
    _acknowledge_role_policy(machine, bucket, invoked)
    _acknowledge_map_policy(machine, map_label)
