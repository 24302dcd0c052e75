"""Alarms, topic and dashboard as synthesized: every alarm as declared in stacks/alarms.py."""

from __future__ import annotations

import json

import pytest

from stacks.alarms import STATES_NAMESPACE, alarm_specs
from stacks.settings import Settings

from .conftest import only, resources

SPECS = {spec.name: spec for spec in alarm_specs(Settings().monitoring)}
# The alarms the README documents, written here from the requirement (not taken from alarm_specs(), which
# is the code under test: a list derived from it could never catch a missing alarm).
DOCUMENTED_ALARMS = {
    "HubFailed",
    "ExecutionsFailed",
    "ExecutionsTimedOut",
    "ExecutionsAborted",
    "SpokeFailureRate",
    "SpokesStuck",
    "TriggerFailedInvocations",
    "TriggerDeadLetters",
    "RunTooLong",
}


@pytest.fixture(scope="module")
def alarms(template):
    return {
        a["Properties"]["AlarmName"].removeprefix("HubSpoke-"): a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }


def test_every_documented_alarm_is_deployed_and_no_other(template):
    names = {a["Properties"]["AlarmName"] for a in resources(template, "AWS::CloudWatch::Alarm").values()}
    assert names == {f"HubSpoke-{name}" for name in DOCUMENTED_ALARMS}


def test_trigger_alarms_watch_the_image_push_rule_and_the_dead_letter_queue(alarms, template):
    (rule,) = [k for k, r in resources(template, "AWS::Events::Rule").items() if "EventPattern" in r["Properties"]]
    dead_letters = {
        t["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for t in template["Resources"][rule]["Properties"]["Targets"]
    }
    (queue,) = dead_letters
    failed = alarms["TriggerFailedInvocations"]
    assert (failed["Namespace"], failed["MetricName"], failed["Statistic"]) == (
        "AWS/Events",
        "FailedInvocations",
        "Sum",
    )
    assert failed["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": rule}}]
    assert (failed["Threshold"], failed["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    waiting = alarms["TriggerDeadLetters"]
    assert (waiting["Namespace"], waiting["MetricName"], waiting["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert waiting["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert (waiting["Threshold"], waiting["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_hub_failed_counts_hub_breakage_not_rejected_requests(alarms):
    """Lambda Errors or ExecutionsFailed would count a rejected request; the hub's own HubFailed metric,
    which the hub emits as 0 for InvalidRunRequest (tests/integration/test_hub_metrics.py), does not."""
    alarm = alarms["HubFailed"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("HubSpoke", "HubFailed")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "hubspoke"}]


@pytest.mark.parametrize("name", sorted(DOCUMENTED_ALARMS))
def test_alarm_matches_its_spec(alarms, template, name):
    spec, alarm = SPECS[name], alarms[name]
    assert alarm["Threshold"] == spec.threshold
    assert alarm["ComparisonOperator"] == spec.comparison
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert len(alarm["AlarmDescription"]) > 80  # tells the on-call what it means and what to do
    topic = only(template, "AWS::SNS::Topic")[0]
    assert alarm["AlarmActions"] == [{"Ref": topic}]
    assert alarm["OKActions"] == [{"Ref": topic}]
    if spec.expression == "m":
        ref = spec.metrics["m"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (ref.namespace, ref.name, ref.statistic)
        assert alarm["Period"] == spec.period_minutes * 60
        (dimension,) = alarm["Dimensions"]
        expected = {STATES_NAMESPACE: "StateMachineArn", "AWS/Events": "RuleName", "AWS/SQS": "QueueName"}.get(
            ref.namespace, "service"
        )
        assert dimension["Name"] == expected
    else:
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        (expression,) = [q for q in queries.values() if "Expression" in q]
        assert expression["Expression"] == spec.expression
        for name_, ref in spec.metrics.items():
            stat = queries[name_]["MetricStat"]
            assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]) == (
                ref.namespace,
                ref.name,
                ref.statistic,
            )
            assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "hubspoke"}]
            assert stat["Period"] == spec.period_minutes * 60


def test_failure_rate_alarm_is_ten_percent_over_spoke_outcomes(alarms):
    alarm = alarms["SpokeFailureRate"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (10, "GreaterThanThreshold")
    assert SPECS["SpokeFailureRate"].expression == "100 * failed / total"


def test_topic_is_encrypted_with_a_rotated_key_of_its_own_and_tls_only(template):
    # alias/aws/sns cannot be used: its key policy (AWS-managed, not editable) does not let CloudWatch use it.
    _, topic = only(template, "AWS::SNS::Topic")
    key = topic["Properties"]["KmsMasterKeyId"]
    assert set(key) == {"Fn::GetAtt"} or set(key) == {"Ref"}, key
    key_id = key["Fn::GetAtt"][0] if "Fn::GetAtt" in key else key["Ref"]
    assert template["Resources"][key_id]["Type"] == "AWS::KMS::Key"
    assert template["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in deny] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_only_this_stacks_alarms_may_publish_to_the_topic(template):
    topic_id, _ = only(template, "AWS::SNS::Topic")
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    source_arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(a["Fn::GetAtt"][0] for a in source_arns) == sorted(resources(template, "AWS::CloudWatch::Alarm"))
    assert all(a["Fn::GetAtt"][1] == "Arn" for a in source_arns)


def test_dashboard_shows_the_workflow(template):
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Hub duration",
        "Spoke success rate",
        "Active spokes",
        "Hub: rejected run requests and failures",
        "Failures by error type",
        "Retries and throttles",
        "Alarms",
    ):
        assert title in body
    assert "ConcurrentExecutions" in body
    assert "HubRejectedRequests" in body


def test_no_email_subscription_by_default(template):
    assert resources(template, "AWS::SNS::Subscription") == {}
