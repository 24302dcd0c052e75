"""Summarize, then the run's outcome: Succeed, or Fail when failures passed the threshold or targets were lost."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.functions import Functions
from stacks.settings import Settings
from stacks.workflow.invoke import invoke


def _summarize_task(scope: Construct, settings: Settings, functions: Functions) -> tasks.LambdaInvoke:
    return invoke(
        scope,
        "Summarize",
        functions.summarize,
        {
            "run": sfn.JsonPath.object_at("$.run"),
            "failure_threshold_percent": sfn.JsonPath.number_at("$.failure_threshold_percent"),
            "notes": sfn.JsonPath.object_at("$.notes"),
            "execution_started_at": sfn.JsonPath.string_at("$$.Execution.StartTime"),
            "waves_run": sfn.JsonPath.number_at("$.progress.wave"),
            # A wave's concurrency in the summary when adaptive concurrency did not record one.
            "max_concurrency": sfn.JsonPath.number_at("$.max_concurrency"),
        },
        settings.summarize_timeout_seconds,
        settings.retry,
        api_errors=False,
        result_selector={"summary.$": "$.Payload"},
        result_path="$.result",
        output_path="$.result",
    )


def _outcome(scope: Construct) -> sfn.Choice:
    return (
        sfn.Choice(scope, "RunOutcome")
        .when(
            sfn.Condition.string_equals("$.summary.outcome", "succeeded"),
            sfn.Succeed(scope, "RunSucceeded"),
        )
        .otherwise(
            sfn.Fail(
                scope,
                "RunFailed",
                error="RunFailed",
                cause="Failed targets exceeded the failure threshold, or targets were lost; see the run report.",
            )
        )
    )


def summarize(scope: Construct, settings: Settings, functions: Functions) -> tasks.LambdaInvoke:
    """The Summarize task, followed by the outcome Choice."""
    task = _summarize_task(scope, settings, functions)
    # Summarize is idempotent (it recomputes from the ledger), so any crash is worth a retry.
    task.add_retry(errors=[sfn.Errors.ALL], interval=Duration.seconds(5), backoff_rate=2.0, max_attempts=2)
    task.next(_outcome(scope))
    return task
