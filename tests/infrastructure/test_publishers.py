"""Every SNS topic and SQS queue an AWS service publishes to can really be published to.

moto does not enforce resource or key policies, so a topic no alarm could ever reach passes every local
test. This walks the synthesized template generically: it finds the publishers (alarm actions ->
CloudWatch; EventBridge rule targets and dead-letter queues -> EventBridge; S3 notifications -> S3;
Lambda asynchronous destinations and DLQs -> the function's role) and checks for each one what AWS
requires:

- a topic or queue encrypted with KMS uses a customer-managed key of this template whose key policy lets
  the publishing service use it (kms:GenerateDataKey*, kms:Decrypt). An AWS-managed key (alias/aws/sns,
  alias/aws/sqs) cannot: its key policy cannot be edited (AWS re:Post, "configure a CloudWatch alarm with
  an encrypted SNS topic"). SQS-managed encryption (SSE-SQS) needs no key grant.
- the topic or queue's resource policy allows the publishing service the send action, limited by
  aws:SourceArn to the publishing resource (a role publisher needs the grant in its own policy instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import resources

SEND = {"AWS::SNS::Topic": "sns:Publish", "AWS::SQS::Queue": "sqs:SendMessage"}
POLICY = {
    "AWS::SNS::Topic": ("AWS::SNS::TopicPolicy", "Topics"),
    "AWS::SQS::Queue": ("AWS::SQS::QueuePolicy", "Queues"),
}
KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


@dataclass(frozen=True)
class Publisher:
    target: str  # logical id of the topic or queue
    service: str  # the AWS service principal that sends, or "" when the sender is an IAM role
    source: str  # logical id of the resource that sends (alarm, rule, bucket, function)
    role: str = ""  # logical id of the IAM role that sends, for role publishers


def _target_id(template: dict[str, Any], value: Any) -> str | None:
    """The logical id of a topic or queue named by Ref / Fn::GetAtt, or None for anything else."""
    if not isinstance(value, dict):
        return None
    ref = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
    if isinstance(ref, str) and template["Resources"].get(ref, {}).get("Type") in SEND:
        return ref
    return None


def publishers(template: dict[str, Any]) -> list[Publisher]:
    found: list[Publisher] = []

    def add(value: Any, service: str, source: str, role: str = "") -> None:
        target = _target_id(template, value)
        if target:
            found.append(Publisher(target, service, source, role))

    for alarm_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for action in props.get(key, []):
                add(action, "cloudwatch.amazonaws.com", alarm_id)
    for rule_id, rule in resources(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            add(target.get("Arn"), "events.amazonaws.com", rule_id)
            add(target.get("DeadLetterConfig", {}).get("Arn"), "events.amazonaws.com", rule_id)
    for bucket_id, bucket in resources(template, "AWS::S3::Bucket").items():
        notifications = bucket["Properties"].get("NotificationConfiguration", {})
        for item in notifications.get("TopicConfigurations", []):
            add(item.get("Topic"), "s3.amazonaws.com", bucket_id)
        for item in notifications.get("QueueConfigurations", []):
            add(item.get("Queue"), "s3.amazonaws.com", bucket_id)
    functions = resources(template, "AWS::Lambda::Function")
    for function_id, function in functions.items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        add(function["Properties"].get("DeadLetterConfig", {}).get("TargetArn"), "", function_id, role)
    for config in resources(template, "AWS::Lambda::EventInvokeConfig").values():
        function_id = config["Properties"]["FunctionName"]["Ref"]
        role = functions[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        for outcome in ("OnFailure", "OnSuccess"):
            add(
                config["Properties"].get("DestinationConfig", {}).get(outcome, {}).get("Destination"),
                "",
                function_id,
                role,
            )
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allows(statement: dict[str, Any], action: str) -> bool:
    """The statement allows `action` (exact, or a trailing-* pattern such as kms:GenerateDataKey*, sqs:*)."""
    return statement["Effect"] == "Allow" and any(
        a == action or (a.endswith("*") and action.startswith(a[:-1])) for a in _list(statement["Action"])
    )


def _names(statement: dict[str, Any], service: str) -> bool:
    return service in _list(statement.get("Principal", {}).get("Service", []))


def _source_arns(statement: dict[str, Any]) -> list[Any]:
    condition = statement.get("Condition", {})
    return [arn for op in ("ArnEquals", "ArnLike") for arn in _list(condition.get(op, {}).get("aws:SourceArn", []))]


def _key_id(template: dict[str, Any], target: str) -> str | None:
    """The logical id of the target's KMS key; None when it is not KMS-encrypted. Fails on an AWS-managed key."""
    props = template["Resources"][target]["Properties"]
    key = props.get("KmsMasterKeyId")
    if key is None:
        return None
    key_id = key.get("Ref") or key.get("Fn::GetAtt", [None])[0] if isinstance(key, dict) else None
    message = (
        f"{target} is encrypted with {key}, not a customer-managed key of this stack: an AWS-managed key's "
        "policy cannot grant a publishing service"
    )
    assert key_id, message
    assert template["Resources"][key_id]["Type"] == "AWS::KMS::Key", message
    return str(key_id)


def _role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


@pytest.fixture(scope="module")
def found(template: dict[str, Any]) -> list[Publisher]:
    return publishers(template)


def test_the_walk_finds_the_stacks_publishers(found: list[Publisher], template: dict[str, Any]) -> None:
    # The walk itself must see what this stack has: alarms publishing to the alarm topic, and both rules
    # sending failed events to the trigger dead-letter queue.
    kinds = {(template["Resources"][p.target]["Type"], p.service) for p in found}
    assert ("AWS::SNS::Topic", "cloudwatch.amazonaws.com") in kinds
    assert ("AWS::SQS::Queue", "events.amazonaws.com") in kinds
    assert len({p.source for p in found if p.service == "cloudwatch.amazonaws.com"}) == len(
        resources(template, "AWS::CloudWatch::Alarm")
    )


def test_every_encrypted_target_uses_a_key_its_publishers_may_use(found: list[Publisher], template) -> None:
    for publisher in found:
        key_id = _key_id(template, publisher.target)
        if key_id is None:
            continue  # unencrypted or SSE-SQS: no key policy involved
        if publisher.service:
            statements = template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
            granted = [s for s in statements if _names(s, publisher.service)]
        else:
            # A role uses the key through its own policy (the key policy's account statement enables IAM).
            granted = [
                s
                for s in _role_statements(template, publisher.role)
                if {"Fn::GetAtt": [key_id, "Arn"]} in _list(s["Resource"])
            ]
        for action in KMS_ACTIONS:
            assert any(_allows(s, action) for s in granted), (publisher, action)


def test_every_target_lets_its_publishers_send(found: list[Publisher], template) -> None:
    for publisher in found:
        type_ = template["Resources"][publisher.target]["Type"]
        action = SEND[type_]
        if not publisher.service:
            statements = _role_statements(template, publisher.role)
            assert any(_allows(s, action) for s in statements), publisher
            continue
        policy_type, key = POLICY[type_]
        statements = [
            s
            for policy in resources(template, policy_type).values()
            if {"Ref": publisher.target} in policy["Properties"][key]
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        allowed = [s for s in statements if _allows(s, action) and _names(s, publisher.service)]
        assert allowed, f"{publisher.target}'s policy does not allow {publisher.service} to {action}"
        # Limited to the publishing resource (confused deputy): its ARN in an aws:SourceArn condition.
        source = {"Fn::GetAtt": [publisher.source, "Arn"]}
        assert any(source in _source_arns(s) for s in allowed), (publisher, allowed)
