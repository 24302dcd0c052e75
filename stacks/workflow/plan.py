"""A dry run ends after the hub: the hub wrote the plan and nothing else; no spoke starts."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

PLANNED = "planned"  # the hub's `outcome` for a dry run (lambdas/hub/plan.py)


def unless_planned(scope: Construct, run: sfn.IChainable) -> sfn.Choice:
    """The hub planned a dry run: end here, succeeded, with the plan as the execution's output; else `run`."""
    # A comparison on a missing field is a runtime error in ASL: a real run's output has no `outcome`.
    planned = sfn.Condition.and_(
        sfn.Condition.is_present("$.outcome"), sfn.Condition.string_equals("$.outcome", PLANNED)
    )
    return (
        sfn.Choice(scope, "DryRun")
        .when(planned, sfn.Succeed(scope, "Planned", comment="A dry run: the plan is the output; nothing ran."))
        .otherwise(run)
    )
