"""Waves: one Distributed Map per wave manifest, a Wait between waves (no Lambda sleeps).

The wave counter lives in $.progress.wave (the hub starts it at 0); a run without waves has one wave.
"""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


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


def wave_loop(
    scope: Construct, *, gate: sfn.IChainable, spokes: sfn.DistributedMap, done: sfn.IChainable
) -> sfn.Choice:
    """AnyTargets -> SelectWave -> `gate` ... `spokes` -> AdvanceWave -> MoreWaves -> WavePause -> SelectWave,
    until the waves are done, then `done`; a run with no targets goes to `done` at once. `gate` must lead to
    `spokes`. Returns the loop's first state."""
    select_wave = _select_wave(scope)
    advance_wave = sfn.Pass(
        scope,
        "AdvanceWave",
        parameters={"wave": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.progress.wave"), 1)},
        result_path="$.progress",
    )
    pause = sfn.Wait(scope, "WavePause", time=sfn.WaitTime.seconds_path("$.waves.pause_seconds"))
    more_waves = (
        sfn.Choice(scope, "MoreWaves")
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
