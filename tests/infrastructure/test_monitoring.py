"""Alarms, topic and dashboard as synthesized: every alarm as declared in stacks/alarms.py."""

from __future__ import annotations

import json

import pytest

from stacks.alarms import STATES_NAMESPACE, alarm_specs
from stacks.settings import Settings

from .conftest import only, resources

SPECS = {spec.name: spec for spec in alarm_specs(Settings().monitoring)}


@pytest.fixture(scope="module")
def alarms(template):
    found = {
        a["Properties"]["AlarmName"].removeprefix("HubSpoke-"): a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    assert set(found) == set(SPECS)
    return found


@pytest.mark.parametrize("name", list(SPECS))
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


def test_topic_is_encrypted_and_tls_only(template):
    _, topic = only(template, "AWS::SNS::Topic")
    assert "alias/aws/sns" in json.dumps(topic["Properties"]["KmsMasterKeyId"])
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_dashboard_shows_the_workflow(template):
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Hub duration",
        "Spoke success rate",
        "Active spokes",
        "Failures by error type",
        "Retries and throttles",
        "Alarms",
    ):
        assert title in body
    assert "ConcurrentExecutions" in body


def test_no_email_subscription_by_default(template):
    assert resources(template, "AWS::SNS::Subscription") == {}
