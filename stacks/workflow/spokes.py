"""The spoke map: a Distributed Map over a wave's manifest, one spoke task per target, every error caught."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.functions import Functions
from stacks.settings import Settings
from stacks.storage import Storage
from stacks.workflow.errors import (
    EMPTY_OUTPUT,
    ITEM_READER_FAILED,
    ITEM_READER_RETRY,
    MAP_RESULTS_PREFIX,
    RATE_LIMIT_ERROR,
    RATE_LIMIT_RESET_ERROR,
)
from stacks.workflow.failure import record_failure
from stacks.workflow.invoke import invoke
from stacks.workflow.retry_after import RetryAfterNames, retry_after_wait

SPOKE_WAIT = RetryAfterNames(
    cause="RateLimitCause",
    honour="HonourRetryAfter",
    parse="ParseRetryAfter",
    reasonable="WaitIsReasonable",
    wait="WaitForRateLimit",
)


def _spoke_task(scope: Construct, settings: Settings, functions: Functions) -> tasks.LambdaInvoke:
    return invoke(
        scope,
        "Spoke",
        functions.spoke,
        {
            "run": sfn.JsonPath.object_at("$.run"),
            "target": sfn.JsonPath.object_at("$.target"),
            "retry_count": sfn.JsonPath.number_at("$$.State.RetryCount"),
            # After a rate-limit wait the task starts again at RetryCount 0: the spoke tells a first attempt by both.
            "rate_limit_waits": sfn.JsonPath.number_at("$.rate_limit.waits"),
            # The target's wave: its row keeps it, and its first rate limit counts in that wave's count.
            "wave": sfn.JsonPath.number_at("$.wave"),
        },
        settings.spoke_timeout_seconds,
        settings.retry,
        api_errors=True,
        # A child's output is gathered into the Map's result: end every child with {} (see spoke_map).
        result_selector=EMPTY_OUTPUT,
    )


def spoke(scope: Construct, settings: Settings, storage: Storage, functions: Functions) -> tasks.LambdaInvoke:
    """The Map child: the spoke task; a rate limit that says how long is waited out (a Wait state, then the
    target again, at most `rate_limit_max_waits` times: a primary limit's reset can be an hour away and no
    Lambda sleeps that long); every other error, and a wait given up, is recorded in the ledger."""
    task = _spoke_task(scope, settings, functions)
    failed = record_failure(scope, storage.ledger)
    honour = retry_after_wait(
        scope, SPOKE_WAIT, settings.retry, at="$.rate_limit", error_at="$.error", again=task, give_up=failed
    )
    # First a rate limit that says how long to wait, then the rest.
    task.add_catch(honour, errors=[RATE_LIMIT_ERROR, RATE_LIMIT_RESET_ERROR], result_path="$.error")
    task.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.error")
    return task


def spoke_map(scope: Construct, storage: Storage, child: sfn.IChainable) -> sfn.DistributedMap:
    """One wave: the children read from the wave's manifest ($.wave.key), at the wave's concurrency."""
    spokes = sfn.DistributedMap(
        scope,
        "Spokes",
        item_reader=sfn.S3JsonItemReader(bucket=storage.bucket, key=sfn.JsonPath.string_at("$.wave.key")),
        # The wave's own concurrency: the run's, or lower when the gate found little budget left.
        max_concurrency_path="$.wave.max_concurrency",
        item_selector={
            "run": sfn.JsonPath.object_at("$.run"),
            "target": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            "rate_limit": {"waits": 0},
            "wave": sfn.JsonPath.number_at("$.wave.index"),
        },
        result_path=sfn.JsonPath.DISCARD,
        map_execution_type=sfn.StateMachineType.STANDARD,
        label="Spokes",
        # ResultPath null does not stop the Map gathering every child's output; past 256 KiB that fails the
        # run with States.DataLimitExceeded, which no Catch matches. So the results go to S3, not the state.
        result_writer_v2=sfn.ResultWriterV2(bucket=storage.bucket, prefix=MAP_RESULTS_PREFIX),
        # Every target failure is caught and recorded in the child; a child that still fails (States.Runtime
        # cannot be caught) must not fail the run: its row stays pending and Summarize counts it lost.
        tolerated_failure_percentage=100,
    )
    spokes.item_processor(child)
    # The manifest read is one S3 GetObject before any child starts: an S3 hiccup (SlowDown, 500) fails the Map
    # with States.ItemReaderFailed, and without a Retry every target of the wave would be lost. Reading again is
    # safe (nothing ran). Not States.ResultWriterFailed: retrying the Map after its children ran runs them again.
    spokes.add_retry(
        errors=[ITEM_READER_FAILED],
        interval=Duration.seconds(ITEM_READER_RETRY.interval_seconds),
        backoff_rate=ITEM_READER_RETRY.backoff_rate,
        max_attempts=ITEM_READER_RETRY.max_attempts,
    )
    return spokes
