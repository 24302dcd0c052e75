"""A Lambda task as all of ours are: a task timeout and our own Retry entries, in a fixed order."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.settings import RetryPolicy, RetrySettings
from stacks.workflow.errors import LAMBDA_SERVICE_ERRORS, RATE_LIMIT_ERROR, TRANSIENT_ERROR


def add_retry(state: tasks.LambdaInvoke, errors: list[str], policy: RetryPolicy) -> None:
    """One Retry entry from one settings policy."""
    state.add_retry(
        errors=errors,
        interval=Duration.seconds(policy.interval_seconds),
        backoff_rate=policy.backoff_rate,
        max_attempts=policy.max_attempts,
        max_delay=Duration.seconds(policy.max_delay_seconds) if policy.max_delay_seconds else None,
        jitter_strategy=sfn.JitterType.FULL if policy.jitter == "FULL" else None,
    )


def invoke(
    scope: Construct,
    construct_id: str,
    function: lambda_.IFunction,
    payload: dict[str, object],
    timeout_seconds: int,
    retry: RetrySettings,
    *,
    api_errors: bool,
    **options: object,
) -> tasks.LambdaInvoke:
    """A task timeout, our own Retry for Lambda service errors instead of CDK's default, and — for code that
    calls rate-limited or flaky APIs — Retry for RateLimitError and TransientError, in that order."""
    task = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(payload),
        retry_on_service_exceptions=False,
        task_timeout=sfn.Timeout.duration(Duration.seconds(timeout_seconds)),
        **options,  # type: ignore[arg-type]
    )
    add_retry(task, LAMBDA_SERVICE_ERRORS, retry.lambda_service)
    if api_errors:
        add_retry(task, [RATE_LIMIT_ERROR], retry.rate_limit)
        add_retry(task, [TRANSIENT_ERROR], retry.transient)
    return task
