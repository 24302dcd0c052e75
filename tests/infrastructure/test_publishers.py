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

import copy
from dataclasses import dataclass
from typing import Any

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
    """The logical id of the target's KMS key in this template; "" for a key from elsewhere (an AWS-managed
    alias such as alias/aws/sns); None when the target is not KMS-encrypted (none, or SSE-SQS)."""
    key = template["Resources"][target]["Properties"].get("KmsMasterKeyId")
    if key is None:
        return None
    ref = (key.get("Ref") or (key.get("Fn::GetAtt") or [""])[0]) if isinstance(key, dict) else ""
    return ref if template["Resources"].get(ref, {}).get("Type") == "AWS::KMS::Key" else ""


def _role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _on(statement: dict[str, Any], resource_id: str) -> bool:
    """The statement's Resource names this resource (by Ref or Fn::GetAtt Arn), or is "*"."""
    named = [{"Ref": resource_id}, {"Fn::GetAtt": [resource_id, "Arn"]}, "*"]
    return any(r in named for r in _list(statement.get("Resource", [])))


def key_problems(template: dict[str, Any]) -> list[str]:
    """Publishers that could not use the key their topic or queue is encrypted with."""
    problems = []
    for publisher in publishers(template):
        key_id = _key_id(template, publisher.target)
        if key_id is None:
            continue
        if not key_id:
            problems.append(f"{publisher.target}: not a customer-managed key of this stack, so no key policy grants it")
            continue
        if publisher.service:
            statements = template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
            granted = [s for s in statements if _names(s, publisher.service)]
        else:
            # A role uses the key through its own policy (the key policy's account statement enables IAM).
            granted = [s for s in _role_statements(template, publisher.role) if _on(s, key_id)]
        for action in KMS_ACTIONS:
            if not any(_allows(s, action) for s in granted):
                problems.append(f"{publisher.target}: {publisher.service or publisher.role} lacks {action} on {key_id}")
    return problems


def policy_problems(template: dict[str, Any]) -> list[str]:
    """Publishers the topic or queue's resource policy (or, for a role, its own policy) does not let send."""
    problems = []
    for publisher in publishers(template):
        type_ = template["Resources"][publisher.target]["Type"]
        action = SEND[type_]
        if not publisher.service:
            statements = _role_statements(template, publisher.role)
            if not any(_allows(s, action) and _on(s, publisher.target) for s in statements):
                problems.append(f"{publisher.target}: role {publisher.role} may not {action}")
            continue
        policy_type, key = POLICY[type_]
        statements = [
            s
            for policy in resources(template, policy_type).values()
            if {"Ref": publisher.target} in policy["Properties"][key]
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        allowed = [s for s in statements if _allows(s, action) and _names(s, publisher.service)]
        if not allowed:
            problems.append(f"{publisher.target}: its policy does not allow {publisher.service} to {action}")
        # Limited to the publishing resource (confused deputy): its ARN in an aws:SourceArn condition.
        elif not any({"Fn::GetAtt": [publisher.source, "Arn"]} in _source_arns(s) for s in allowed):
            problems.append(
                f"{publisher.target}: {publisher.service} is not limited to {publisher.source} by aws:SourceArn"
            )
    return problems


def test_the_walk_finds_the_stacks_publishers(template: dict[str, Any]) -> None:
    # The walk itself must see what this stack has: every alarm publishing to the alarm topic, and the
    # rules sending failed events to the trigger dead-letter queue.
    found = publishers(template)
    kinds = {(template["Resources"][p.target]["Type"], p.service) for p in found}
    assert ("AWS::SNS::Topic", "cloudwatch.amazonaws.com") in kinds
    assert ("AWS::SQS::Queue", "events.amazonaws.com") in kinds
    alarms = {p.source for p in found if p.service == "cloudwatch.amazonaws.com"}
    assert alarms == set(resources(template, "AWS::CloudWatch::Alarm"))


def test_every_encrypted_target_uses_a_key_its_publishers_may_use(template: dict[str, Any]) -> None:
    assert key_problems(template) == []


def test_every_target_lets_its_publishers_send(template: dict[str, Any]) -> None:
    assert policy_problems(template) == []


# The checks themselves, on the template with one requirement broken at a time.


def _alarm_topic(template: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    broken = copy.deepcopy(template)
    (topic,) = resources(broken, "AWS::SNS::Topic")
    (policy,) = resources(broken, "AWS::SNS::TopicPolicy")
    return broken, topic, policy


def test_an_aws_managed_key_is_caught(template: dict[str, Any]) -> None:
    broken, topic, _ = _alarm_topic(template)
    broken["Resources"][topic]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    problems = set(key_problems(broken))
    assert problems == {f"{topic}: not a customer-managed key of this stack, so no key policy grants it"}


def test_a_key_policy_without_the_publishing_service_is_caught(template: dict[str, Any]) -> None:
    broken, topic, _ = _alarm_topic(template)
    key = broken["Resources"][topic]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    statements = broken["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
    statements[:] = [s for s in statements if not _names(s, "cloudwatch.amazonaws.com")]
    assert f"{topic}: cloudwatch.amazonaws.com lacks kms:Decrypt on {key}" in key_problems(broken)


def test_a_topic_policy_without_an_allow_or_without_source_arn_is_caught(template: dict[str, Any]) -> None:
    broken, topic, policy = _alarm_topic(template)
    statements = broken["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    del allow["Condition"]
    assert any(p.startswith(f"{topic}: cloudwatch.amazonaws.com is not limited") for p in policy_problems(broken))
    statements.remove(allow)
    assert f"{topic}: its policy does not allow cloudwatch.amazonaws.com to sns:Publish" in policy_problems(broken)
