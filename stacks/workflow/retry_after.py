"""The retry-after loop: a rate limit that says how long ("retry after N s: ") is waited out in a Wait state.

The spoke and the hub use the same states under their own names and paths: parse N from the caught error,
keep a count of waits, wait N s, run the task again; give up when the message does not say how long, the wait
is too long or the waits are spent.
"""

from __future__ import annotations

from typing import NamedTuple

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.settings import RetrySettings


class RetryAfterNames(NamedTuple):
    """The state names of one retry-after loop (they show in the console and the execution history)."""

    cause: str
    honour: str
    parse: str
    reasonable: str
    wait: str


def _message(at: str) -> str:
    return f"{at}.cause.errorMessage"


def _cause(scope: Construct, name: str, *, at: str, error_at: str) -> sfn.Pass:
    """The caught error and its parsed cause (a JSON string), with the count of waits carried on."""
    return sfn.Pass(
        scope,
        name,
        parameters={
            "error": sfn.JsonPath.object_at(error_at),
            "cause": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at(f"{error_at}.Cause")),
            "waits": sfn.JsonPath.number_at(f"{at}.waits"),
        },
        result_path=at,
    )


def _parse(scope: Construct, name: str, *, at: str) -> sfn.Pass:
    """Count this wait and read N from the message."""
    return sfn.Pass(
        scope,
        name,
        parameters={
            "error": sfn.JsonPath.object_at(f"{at}.error"),
            "cause": sfn.JsonPath.object_at(f"{at}.cause"),
            "waits": sfn.JsonPath.math_add(sfn.JsonPath.number_at(f"{at}.waits"), 1),
            # "retry after N s: ..." -> ["retry", "after", "N", ...] -> N
            "seconds": sfn.JsonPath.string_to_json(
                sfn.JsonPath.array_get_item(sfn.JsonPath.string_split(sfn.JsonPath.string_at(_message(at)), " "), 2)
            ),
        },
        result_path=at,
    )


def _says_how_long(at: str, retry: RetrySettings) -> sfn.Condition:
    """The message is "retry after N s: ..." and waits are left."""
    message = _message(at)
    return sfn.Condition.and_(
        sfn.Condition.is_present(message),
        sfn.Condition.is_string(message),
        sfn.Condition.string_matches(message, "retry after * s: *"),
        sfn.Condition.number_less_than(f"{at}.waits", retry.rate_limit_max_waits),
    )


def retry_after_wait(
    scope: Construct,
    names: RetryAfterNames,
    retry: RetrySettings,
    *,
    at: str,
    error_at: str,
    again: sfn.IChainable,
    give_up: sfn.IChainable,
) -> sfn.Pass:
    """The loop on the error caught at `error_at`, its count of waits at `at`; `again` after the wait, `give_up`
    otherwise. Returns the loop's first state."""
    cause = _cause(scope, names.cause, at=at, error_at=error_at)
    parse = _parse(scope, names.parse, at=at)
    wait = sfn.Wait(scope, names.wait, time=sfn.WaitTime.seconds_path(f"{at}.seconds"))
    parse.next(
        sfn.Choice(scope, names.reasonable)
        .when(
            sfn.Condition.number_less_than_equals(f"{at}.seconds", retry.rate_limit_max_wait_seconds),
            wait.next(again),
        )
        .otherwise(give_up)
    )
    cause.next(sfn.Choice(scope, names.honour).when(_says_how_long(at, retry), parse).otherwise(give_up))
    return cause
