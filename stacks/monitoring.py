"""Monitoring: the alarms declared in stacks/alarms.py, an encrypted TLS-only SNS topic, a dashboard.

Alarm and dashboard names start with the stack's name, so a second copy of the stack in one account and
region (another name) does not collide with the first.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.alarms import (
    EVENTS_NAMESPACE,
    SERVICE,
    SQS_NAMESPACE,
    STATES_NAMESPACE,
    AlarmSpec,
    MetricRef,
    alarm_specs,
)
from stacks.common import removal_policy
from stacks.functions import Functions
from stacks.settings import Settings
from stacks.triggers import Triggers

_COMPARISON = {
    "GreaterThanOrEqualToThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "GreaterThanThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
}


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        state_machine: sfn.StateMachine,
        functions: Functions,
        triggers: Triggers,
    ) -> None:
        super().__init__(scope, construct_id)
        self._state_machine = state_machine
        self._triggers = triggers
        stack_name = Stack.of(self).stack_name
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{stack_name} alarms",
            master_key=self._topic_key(settings),
            enforce_ssl=True,
        )
        if settings.monitoring.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.monitoring.alarm_email))
        action = actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for spec in alarm_specs(settings.monitoring):
            alarm = cloudwatch.Alarm(
                self,
                spec.name,
                alarm_name=f"{stack_name}-{spec.name}",
                alarm_description=spec.description,
                metric=self._metric(spec),
                threshold=spec.threshold,
                comparison_operator=_COMPARISON[spec.comparison],
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.evaluation_periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[spec.name] = alarm
        # enforce_ssl's TLS-only Deny replaces SNS's default topic policy, which let CloudWatch publish:
        # allow it again, for this stack's alarms only (aws:SourceArn, against a confused deputy).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": [a.alarm_arn for a in self.alarms.values()]}},
            )
        )
        self.dashboard = self._dashboard(settings, functions, stack_name)

    def _topic_key(self, settings: Settings) -> kms.Key:
        """A customer-managed key: alias/aws/sns's policy cannot be edited to let CloudWatch alarms use it, so
        their notifications would never be delivered (AWS re:Post: CloudWatch alarm with an encrypted SNS topic).
        """
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Encrypts the {Stack.of(self).stack_name} alarm topic; CloudWatch alarms may use it",
            enable_key_rotation=True,
            removal_policy=removal_policy(settings),
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        return key

    def _ref(self, ref: MetricRef, period: Duration) -> cloudwatch.Metric:
        if ref.namespace == STATES_NAMESPACE:
            dimensions = {"StateMachineArn": self._state_machine.state_machine_arn}
        elif ref.namespace == EVENTS_NAMESPACE:
            dimensions = {"RuleName": self._triggers.image_push_rule.rule_name}
        elif ref.namespace == SQS_NAMESPACE:
            dimensions = {"QueueName": self._triggers.dead_letters.queue_name}
        else:
            dimensions = {"service": SERVICE}
        return cloudwatch.Metric(
            namespace=ref.namespace,
            metric_name=ref.name,
            dimensions_map=dimensions,
            statistic=ref.statistic,
            period=period,
        )

    def _metric(self, spec: AlarmSpec) -> cloudwatch.IMetric:
        period = Duration.minutes(spec.period_minutes)
        if spec.expression == "m":
            return self._ref(spec.metrics["m"], period)
        return cloudwatch.MathExpression(
            expression=spec.expression,
            using_metrics={name: self._ref(ref, period) for name, ref in spec.metrics.items()},
            label=f"{spec.name} ({spec.unit_label})",
            period=period,
        )

    def _dashboard(self, settings: Settings, functions: Functions, stack_name: str) -> cloudwatch.Dashboard:
        period = Duration.minutes(settings.monitoring.period_minutes)
        namespace = settings.monitoring.namespace

        def ours(name: str, statistic: str = "Sum", **dims: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=name,
                statistic=statistic,
                period=period,
                dimensions_map={"service": SERVICE, **dims},
            )

        success_rate = cloudwatch.MathExpression(
            expression="100 * ok / total",
            using_metrics={"ok": ours("SpokesSucceeded"), "total": ours("RunTargets")},
            label="spoke success rate (%)",
            period=period,
        )
        failures_by_error = cloudwatch.MathExpression(
            expression=f"SEARCH('{{{namespace},error,service}} MetricName=\"SpokeFailures\"', 'Sum', "
            f"{int(period.to_seconds())})",
            label="failures by error type",
            period=period,
        )
        retries = cloudwatch.MathExpression(
            expression=f"SEARCH('{{{namespace},operation,service}} MetricName=\"SpokeRetries\"', 'Sum', "
            f"{int(period.to_seconds())})",
            label="retried attempts",
            period=period,
        )
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=stack_name)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Hub duration (ms)", left=[ours("HubDuration", "Maximum"), ours("HubDuration", "Average")]
            ),
            cloudwatch.GraphWidget(title="Spoke success rate (%)", left=[success_rate]),
            cloudwatch.GraphWidget(
                title="Active spokes (spoke Lambda concurrent executions)",
                left=[functions.spoke.metric("ConcurrentExecutions", statistic="Maximum", period=period)],
            ),
            cloudwatch.GraphWidget(
                title="Hub: rejected run requests and failures",
                left=[ours("HubRejectedRequests"), ours("HubFailed")],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Failures by error type", left=[failures_by_error]),
            cloudwatch.GraphWidget(
                title="Spoke outcomes",
                left=[ours("SpokesSucceeded"), ours("SpokesFailed"), ours("RunLost"), ours("SpokeTimeouts")],
            ),
            cloudwatch.GraphWidget(
                title="Retries and throttles",
                left=[retries, functions.spoke.metric_throttles(period=period)],
                right=[
                    self._state_machine.metric_failed(period=period),
                    self._state_machine.metric_timed_out(period=period),
                ],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Trigger dead-letter queue depth",
                left=[self._triggers.dead_letters.metric_approximate_number_of_messages_visible(period=period)],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=18),
        )
        return dashboard
