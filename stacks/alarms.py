"""The alarms, declared as data: the stack builds CloudWatch alarms from them and the local engine
evaluates the same expressions and thresholds on a local run's metrics (hubspoke/alarms.py).

No CDK here, so the local engine can import it without jsii.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Literal

from stacks.settings import MonitoringSettings

SERVICE = "hubspoke"  # the one dimension alarm metrics carry (Powertools' service)
STATES_NAMESPACE = "AWS/States"
EVENTS_NAMESPACE = "AWS/Events"
SQS_NAMESPACE = "AWS/SQS"

Comparison = Literal["GreaterThanOrEqualToThreshold", "GreaterThanThreshold"]


@dataclass(frozen=True)
class MetricRef:
    """A metric an alarm reads: ours (EMF, dimension service) or Step Functions' (dimension StateMachineArn)."""

    namespace: str
    name: str
    statistic: Literal["Sum", "Maximum"]


@dataclass(frozen=True)
class AlarmSpec:
    name: str
    severity: Literal["critical", "degraded"]
    description: str  # what it means and what the on-call does
    # Either one metric, or an expression over named metrics (CloudWatch metric math, + - * / only).
    metrics: dict[str, MetricRef]
    expression: str
    threshold: float
    comparison: Comparison
    period_minutes: int
    evaluation_periods: int
    unit_label: str = ""


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(expression: str, values: dict[str, float]) -> float | None:
    """Evaluate a metric-math expression of + - * / over named values; None where CloudWatch has no
    datapoint (a missing metric, or a division by zero)."""

    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values.get(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
                return None
            return float(_OPS[type(node.op)](left, right))
        raise ValueError(f"unsupported expression element in {expression!r}")

    return walk(ast.parse(expression, mode="eval"))


def breaches(spec: AlarmSpec, value: float) -> bool:
    if spec.comparison == "GreaterThanThreshold":
        return value > spec.threshold
    return value >= spec.threshold


def alarm_specs(monitoring: MonitoringSettings) -> list[AlarmSpec]:
    """Every alarm of the workflow, thresholds and periods from settings."""
    period = monitoring.period_minutes
    namespace = monitoring.namespace

    def ours(name: str, statistic: Literal["Sum", "Maximum"] = "Sum") -> dict[str, MetricRef]:
        return {"m": MetricRef(namespace, name, statistic)}

    def states(name: str, statistic: Literal["Sum", "Maximum"] = "Sum") -> dict[str, MetricRef]:
        return {"m": MetricRef(STATES_NAMESPACE, name, statistic)}

    return [
        AlarmSpec(
            "HubFailed",
            "critical",
            "CRITICAL: a run's hub broke, so no spoke was spawned: a bug or an AWS problem (a request the hub "
            "rejects as InvalidRunRequest is counted in HubRejectedRequests instead, and does not fire this). "
            "Open the failed execution in the Step Functions console and check the Hub function's logs.",
            ours("HubFailed"),
            "m",
            1,
            "GreaterThanOrEqualToThreshold",
            period,
            1,
        ),
        AlarmSpec(
            "ExecutionsFailed",
            "critical",
            "CRITICAL: a HubSpoke execution failed (hub error, or failures over the run's threshold, or lost "
            "targets). Read the run report under reports/<run_id>.json and the execution's error.",
            states("ExecutionsFailed"),
            "m",
            1,
            "GreaterThanOrEqualToThreshold",
            period,
            1,
        ),
        AlarmSpec(
            "ExecutionsTimedOut",
            "critical",
            "CRITICAL: a HubSpoke execution hit its run timeout. Spokes may be stuck or MaxConcurrency too "
            "low for the run's size; inspect the Map run in the console and the ledger rows still pending.",
            states("ExecutionsTimedOut"),
            "m",
            1,
            "GreaterThanOrEqualToThreshold",
            period,
            1,
        ),
        AlarmSpec(
            "ExecutionsAborted",
            "critical",
            "CRITICAL: a HubSpoke execution was aborted (stopped by a person or by automation). Confirm it was "
            "intended; targets of the run may be half done - rerun the run id if not.",
            states("ExecutionsAborted"),
            "m",
            1,
            "GreaterThanOrEqualToThreshold",
            period,
            1,
        ),
        AlarmSpec(
            "SpokeFailureRate",
            "degraded",
            f"DEGRADED: more than {monitoring.spoke_failure_rate_percent:g} % of spokes failed. Look at "
            "failures by error type on the dashboard and the failed targets in the run report; rate limits "
            "call for lower MaxConcurrency or waves.",
            {"failed": MetricRef(namespace, "SpokesFailed", "Sum"), "total": MetricRef(namespace, "RunTargets", "Sum")},
            "100 * failed / total",
            monitoring.spoke_failure_rate_percent,
            "GreaterThanThreshold",
            period,
            1,
            "%",
        ),
        AlarmSpec(
            "SpokesStuck",
            "degraded",
            "DEGRADED: spokes ran past their task timeout (States.Timeout) and were recorded failed. The "
            "downstream system may hang, or spoke_timeout_seconds is too short for the operation.",
            ours("SpokeTimeouts"),
            "m",
            1,
            "GreaterThanOrEqualToThreshold",
            period,
            1,
        ),
        AlarmSpec(
            "TriggerFailedInvocations",
            "critical",
            "CRITICAL: EventBridge could not start a run for an ECR image push (FailedInvocations of the image-push "
            "rule). Retries run out after the rule's retry policy; the event then waits in the trigger dead-letter "
            "queue. Check the rule target's role (states:StartExecution) and the state machine's quotas.",
            {"m": MetricRef(EVENTS_NAMESPACE, "FailedInvocations", "Sum")},
            "m",
            1,
            "GreaterThanOrEqualToThreshold",
            period,
            1,
        ),
        AlarmSpec(
            "TriggerDeadLetters",
            "critical",
            "CRITICAL: events wait in the trigger dead-letter queue: an image push that never started a run, or "
            "an image-index refresh that failed. Read the messages (their attributes name the error), fix the "
            "cause, then start the runs they describe and purge the queue.",
            {"m": MetricRef(SQS_NAMESPACE, "ApproximateNumberOfMessagesVisible", "Maximum")},
            "m",
            0,
            "GreaterThanThreshold",
            period,
            1,
        ),
        AlarmSpec(
            "RunTooLong",
            "degraded",
            f"DEGRADED: a run took longer than {monitoring.max_run_minutes} minutes. Spokes may be stuck in "
            "retries (rate limits) or MaxConcurrency is low for the run's size; check the Map run's progress.",
            states("ExecutionTime", "Maximum"),
            "m",
            monitoring.max_run_minutes * 60_000.0,
            "GreaterThanThreshold",
            period,
            1,
            "ms",
        ),
    ]
