"""Waves: one Distributed Map per wave manifest, a Wait between waves (no Lambda sleeps); with a canary, wave 0
is judged before the rest.

The wave counter lives in $.progress.wave (the hub starts it at 0); a run without waves has one wave.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.workflow.errors import DYNAMODB_RETRYABLE_ERRORS, DYNAMODB_TASK_TIMEOUT_SECONDS
from stacks.workflow.failure import counters_key


def _select_wave(scope: Construct) -> sfn.Pass:
    """$.wave: this wave's manifest key, index and concurrency, and no budget checks yet."""
    return sfn.Pass(
        scope,
        "SelectWave",
        parameters={
            "key": sfn.JsonPath.array_get_item(
                sfn.JsonPath.list_at("$.waves.keys"), sfn.JsonPath.number_at("$.progress.wave")
            ),
            "index": sfn.JsonPath.number_at("$.progress.wave"),
            "max_concurrency": sfn.JsonPath.number_at("$.max_concurrency"),
            "checks": 0,
        },
        result_path="$.wave",
    )


def _canary_verdict(
    scope: Construct, ledger: dynamodb.ITable, *, go_on: sfn.IChainable, done: sfn.IChainable
) -> tasks.DynamoGetItem:
    """After wave 0 of a run with a canary: ReadCanaryFailures (one consistent GetItem of the run's counters) ->
    CanaryVerdict: more failures than the run's threshold allows -> StopAfterCanary (a note, then `done`: Summarize
    records the targets after the canary skipped); else CanaryPause -> `go_on`. Returns the first state."""
    read = tasks.DynamoGetItem(
        scope,
        "ReadCanaryFailures",
        table=ledger,
        key=counters_key(),
        consistent_read=True,
        # The counter is a DynamoDB number (a string in the item's JSON); the Choice compares numbers.
        result_selector={"failures.$": "States.StringToJson($.Item.failures.N)"},
        result_path="$.canary_result",
        task_timeout=sfn.Timeout.duration(Duration.seconds(DYNAMODB_TASK_TIMEOUT_SECONDS)),
    )
    read.add_retry(errors=DYNAMODB_RETRYABLE_ERRORS, interval=Duration.seconds(1), backoff_rate=2.0, max_attempts=5)
    stop = sfn.Pass(
        scope,
        "StopAfterCanary",
        comment="The canary failed: no other target is touched; Summarize records them skipped.",
        result=sfn.Result.from_string("canary"),
        result_path="$.notes.stopped_by",
    )
    stop.next(done)
    # A verdict that cannot be read is not a pass: stop, and say why in the notes.
    read.add_catch(stop, errors=[sfn.Errors.ALL], result_path="$.notes.canary_error")
    pause = sfn.Wait(scope, "CanaryPause", time=sfn.WaitTime.seconds_path("$.canary.pause_seconds"))
    read.next(
        sfn.Choice(scope, "CanaryVerdict")
        .when(
            sfn.Condition.number_greater_than_json_path("$.canary_result.failures", "$.canary.allowed_failures"),
            stop,
        )
        .otherwise(pause.next(go_on))
    )
    return read


def wave_loop(
    scope: Construct,
    *,
    gate: sfn.IChainable,
    spokes: sfn.DistributedMap,
    done: sfn.IChainable,
    ledger: dynamodb.ITable,
) -> sfn.Choice:
    """AnyTargets -> SelectWave -> `gate` ... `spokes` -> AdvanceWave -> MoreWaves -> WavePause -> SelectWave,
    until the waves are done, then `done`; a run with no targets goes to `done` at once. `gate` must lead to
    `spokes`. With a canary (the hub's $.canary.enabled), MoreWaves after wave 0 goes to the canary's verdict
    instead of WavePause. Returns the loop's first state."""
    select_wave = _select_wave(scope)
    advance_wave = sfn.Pass(
        scope,
        "AdvanceWave",
        parameters={"wave": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.progress.wave"), 1)},
        result_path="$.progress",
    )
    pause = sfn.Wait(scope, "WavePause", time=sfn.WaitTime.seconds_path("$.waves.pause_seconds"))
    after_canary = sfn.Condition.and_(
        sfn.Condition.boolean_equals("$.canary.enabled", True), sfn.Condition.number_equals("$.progress.wave", 1)
    )
    more_waves = (
        sfn.Choice(scope, "MoreWaves")
        # The hub enables the canary only when other waves follow it.
        .when(after_canary, _canary_verdict(scope, ledger, go_on=select_wave, done=done))
        .when(sfn.Condition.number_less_than_json_path("$.progress.wave", "$.waves.count"), pause.next(select_wave))
        .otherwise(done)
    )
    select_wave.next(gate)
    spokes.next(advance_wave).next(more_waves)
    return (
        sfn.Choice(scope, "AnyTargets")
        .when(sfn.Condition.number_greater_than("$.count", 0), select_wave)
        .otherwise(done)
    )
