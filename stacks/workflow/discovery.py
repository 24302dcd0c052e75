"""The hub's states: discover, wait out a spent discovery budget, end at once on a duplicate delivery."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.functions import Functions
from stacks.settings import Settings
from stacks.workflow.errors import RATE_LIMIT_ERROR, RATE_LIMIT_RESET_ERROR
from stacks.workflow.invoke import invoke
from stacks.workflow.retry_after import RetryAfterNames, retry_after_wait

DISCOVERY_WAIT = RetryAfterNames(
    cause="DiscoveryRateLimitCause",
    honour="HonourDiscoveryRetryAfter",
    parse="ParseDiscoveryRetryAfter",
    reasonable="DiscoveryWaitIsReasonable",
    wait="WaitForDiscoveryBudget",
)


def hub_task(scope: Construct, settings: Settings, functions: Functions) -> tasks.LambdaInvoke:
    """Discovery may call a rate-limited or flaky API (github-org); the hub writes only after discovery and
    rewrites the same manifest and rows, so a retry is safe."""
    return invoke(
        scope,
        "Hub",
        functions.hub,
        {
            # The execution's input, not the state's: after a wait for the discovery budget the state also
            # carries that wait's bookkeeping ($.discovery), which is no part of the run request.
            "request": sfn.JsonPath.execution_input,
            "execution_name": sfn.JsonPath.execution_name,
            # The hub claims the run id for this execution (lambdas/hub/claims.py).
            "execution_id": sfn.JsonPath.execution_id,
        },
        settings.hub_timeout_seconds,
        settings.retry,
        api_errors=True,
        output_path="$.Payload",
    )


def wait_for_discovery_budget(scope: Construct, settings: Settings, hub: tasks.LambdaInvoke) -> None:
    """A discovery refused by a rate limit that says how long ("retry after N s: ", e.g. a run started with
    the token's budget spent): wait N s in a Wait state, then discover again; at most `rate_limit_max_waits`
    times and `rate_limit_max_wait_seconds` each, as spokes do. Anything else fails the run as before."""
    failed = sfn.Fail(
        scope, "DiscoveryFailed", error_path="$.discovery.error.Error", cause_path="$.discovery.error.Cause"
    )
    cause = retry_after_wait(
        scope, DISCOVERY_WAIT, settings.retry, at="$.discovery", error_at="$.discovery_error", again=hub, give_up=failed
    )
    # The first refusal finds no count yet (the state is the run request): start it at 0.
    first = sfn.Pass(scope, "FirstDiscoveryWait", parameters={"waits": 0}, result_path="$.discovery")
    first.next(cause)
    hub.add_catch(
        sfn.Choice(scope, "DiscoveryRateLimited")
        .when(sfn.Condition.is_present("$.discovery.waits"), cause)
        .otherwise(first),
        errors=[RATE_LIMIT_ERROR, RATE_LIMIT_RESET_ERROR],
        result_path="$.discovery_error",
    )


def unless_duplicate(scope: Construct, run: sfn.IChainable) -> sfn.Choice:
    """Another execution is running this run id (a duplicate delivery): end here, succeeded, having done
    nothing; the hub's output names that execution."""
    return (
        sfn.Choice(scope, "DuplicateDelivery")
        .when(
            sfn.Condition.is_present("$.duplicate_of"),
            sfn.Succeed(scope, "AlreadyRunning", comment="Another execution runs this run id."),
        )
        .otherwise(run)
    )
