"""The image-push trigger as synthesized: the rule's pattern against real-shaped ECR events, its input
transformer, retry policy and dead-letter queue; the indexer's schedule."""

from __future__ import annotations

import pytest

from hubspoke.trigger import InvalidTargetInputError, matches, rules_targeting, transform
from tests.conftest import load_event
from tests.iam import Call, allows, function_statements

from .conftest import only, resources


def image_push_rule(stack):
    (machine,) = stack.resources("AWS::StepFunctions::StateMachine")
    (found,) = rules_targeting(stack, machine)
    return found


@pytest.fixture(scope="module")
def rule(watched_stack):
    return image_push_rule(watched_stack)


def test_a_first_deploy_creates_the_image_push_rule_disabled(stack):
    # cdk.json as shipped watches no repository: the rule exists but is DISABLED, no push starts a run.
    rule = image_push_rule(stack)
    assert rule["State"] == "DISABLED"
    assert not matches(rule, load_event("ecr_push_web.json"))


def test_watched_repositories_enable_the_rule_for_exactly_them(rule):
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.ecr"],
        "detail-type": ["ECR Image Action"],
        "detail": {
            "action-type": ["PUSH"],
            "result": ["SUCCESS"],
            "repository-name": ["web", "api", {"prefix": "team-"}],
            "image-tag": [{"exists": True}],
            "image-digest": [{"exists": True}],
        },
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("ecr_push_web.json", True),
        ("ecr_push_prefixed.json", True),
        ("ecr_push_other_repository.json", False),
        ("ecr_delete_web.json", False),
        ("ecr_push_failed.json", False),
        # A per-platform manifest of a multi-arch image is pushed without a tag; its image index carries the
        # tag and is a push event of its own, which starts the run.
        ("ecr_push_untagged.json", False),
    ],
)
def test_pattern_matches_only_successful_pushes_to_watched_repositories(rule, event, expected):
    assert matches(rule, load_event(event)) is expected


def test_input_transformer_builds_an_ecs_restart_run(rule):
    event = load_event("ecr_push_web.json")
    request = transform(rule["Targets"][0], event)
    assert request == {
        "run_id": f"push-{event['id']}",
        "operation": "ecs-restart",
        "params": {},
        "source": {
            "type": "image-users",
            "repository": "web",
            "tag": "1.4",
            "digest": event["detail"]["image-digest"],
            "registry": "123456789012",
            "region": "us-east-1",
        },
    }


def test_a_path_missing_from_the_event_renders_as_nothing_as_on_eventbridge(rule):
    # The local engine's transformer must fail where EventBridge's would: "tag":<tag> without a tag in the
    # event is "tag":, and StartExecution refuses the input.
    event = load_event("ecr_push_untagged.json")
    with pytest.raises(InvalidTargetInputError, match=r"tag \(\$\.detail\.image-tag\)"):
        transform(rule["Targets"][0], event)


def test_every_event_field_the_transformer_reads_is_required_by_the_pattern(rule):
    """A placeholder whose path the event may lack makes invalid JSON on EventBridge; the pattern must
    guarantee every path the input template reads."""
    paths = rule["Targets"][0]["InputTransformer"]["InputPathsMap"].values()
    detail = rule["EventPattern"]["detail"]
    top_level = {"id", "account", "region", "time", "source", "detail-type"}  # every event has these
    for path in paths:
        parts = path.removeprefix("$.").split(".")
        if parts[0] == "detail":
            assert parts[1] in detail, path
        else:
            assert parts[0] in top_level, path


def test_target_retries_and_has_an_encrypted_dead_letter_queue(rule, template):
    (target,) = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 7200}
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert template["Resources"][queue_id]["Properties"]["SqsManagedSseEnabled"] is True


def test_indexer_runs_on_a_schedule(template):
    schedules = [
        r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    (schedule,) = schedules
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    assert "DeadLetterConfig" in schedule["Targets"][0]


def test_spoke_may_update_services_only(template):
    _, _ = only(template, "AWS::SQS::Queue")
    spoke_role = next(
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].startswith("spoke.")
    )
    statements = [
        st
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": spoke_role} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if "ecs:UpdateService" in st["Action"]
    ]
    (statement,) = statements
    resource = statement["Resource"]
    assert ":service/" in str(resource)  # services, never clusters or *


def test_indexer_failures_reach_the_trigger_dead_letter_queue(rule, template):
    """EventBridge invokes the indexer asynchronously: its own failures (AccessDenied, a timeout) end in
    Lambda's asynchronous retries, which drop the event unless an on-failure destination or DLQ is set."""
    (indexer,) = [
        k
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"].startswith("indexer.")
    ]
    configs = [
        c["Properties"]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": indexer}
    ]
    (config,) = configs
    queue = rule["Targets"][0]["DeadLetterConfig"]["Arn"]  # the alarmed trigger dead-letter queue
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue
    assert config["MaximumRetryAttempts"] == 2
    # The destination is written with the function's role: it must be allowed to send there.
    queue_arn = f"arn:aws:sqs:us-east-1:123456789012:hubspoke-{queue['Fn::GetAtt'][0].lower()}"
    assert allows(function_statements(template, "indexer."), Call("sqs:SendMessage", (queue_arn,)))


def test_the_queue_the_indexer_fails_into_is_alarmed(template):
    """An on-failure destination nobody watches is as silent as none: the queue must carry an alarm."""
    destinations = [
        c["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
    ]
    assert destinations, "no asynchronous invocation has an on-failure destination"
    for queue in destinations:
        alarms = [
            a["Properties"]["AlarmName"]
            for a in resources(template, "AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
            in a["Properties"].get("Dimensions", [])
        ]
        assert alarms == ["HubSpoke-TriggerDeadLetters"], queue


# -- image_push.eks_clusters: a second run of the same push for the Kubernetes workloads ----------------------------

EKS_ACCOUNTS = ["620100300400", "730200400500"]


@pytest.fixture(scope="module")
def eks_rule(synth_cache):
    from hubspoke.synth import synthesize_cached, watching

    overrides = watching(["web"], [])
    assert overrides is not None
    overrides["image_push"] |= {"accounts": EKS_ACCOUNTS, "regions": ["eu-west-3", "ap-south-1"], "eks_clusters": ["*"]}
    return image_push_rule(synthesize_cached(synth_cache, overrides))


def test_eks_clusters_add_a_kubernetes_run_of_the_same_push(eks_rule):
    event = load_event("ecr_push_web.json")
    ecs, kubernetes = eks_rule["Targets"]
    assert transform(ecs, event)["operation"] == "ecs-restart"
    assert transform(kubernetes, event) == {
        "run_id": f"push-k8s-{event['id']}",
        "operation": "k8s-rollout-restart",
        "params": {},
        "source": {
            "type": "image-users",
            "repository": "web",
            "tag": "1.4",
            "digest": event["detail"]["image-digest"],
            "registry": "123456789012",
            "region": "us-east-1",
            "platform": "kubernetes",
        },
    }
    # The same delivery guarantees as the ECS run: retries, and the same dead-letter queue.
    assert (
        kubernetes["RetryPolicy"] == ecs["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 7200}
    )
    assert kubernetes["DeadLetterConfig"] == ecs["DeadLetterConfig"]
    assert kubernetes["RoleArn"] == ecs["RoleArn"]


def test_without_eks_clusters_a_push_starts_the_ecs_run_only(rule):
    (target,) = rule["Targets"]
    assert "k8s-rollout-restart" not in str(target)
