"""Rate limits with a known reset go straight to a Wait state, for spokes and for the hub's discovery."""

from __future__ import annotations

from typing import Any

from shared import errors
from stacks import workflow


def retried(state: dict[str, Any]) -> set[str]:
    return {name for rule in state.get("Retry", []) for name in rule["ErrorEquals"]}


def test_a_known_reset_has_its_own_error_name_which_python_still_catches_as_a_rate_limit():
    assert errors.RateLimitResetError.__name__ == workflow.RATE_LIMIT_RESET_ERROR == "RateLimitResetError"
    assert issubclass(errors.RateLimitResetError, errors.RateLimitError)  # the hub's "retryable, not a page"


def test_no_retry_resends_a_request_into_a_spent_limit(states):
    # GitHub: after a spent primary limit, send nothing until the reset. A Retry (1 s x2) would send ~5 more.
    for name in ("Hub", "Spoke", "CheckBudget"):
        assert "RateLimitResetError" not in retried(states[name]), name
        assert "States.ALL" not in retried(states[name]), name
    assert "RateLimitError" in retried(states["Spoke"])  # a limit of unknown length still backs off first


def test_a_spokes_known_reset_goes_straight_to_the_wait(states):
    (to_wait,) = [c for c in states["Spoke"]["Catch"] if "RateLimitResetError" in c["ErrorEquals"]]
    assert to_wait["Next"] == "RateLimitCause"
    assert states["Spoke"]["Catch"].index(to_wait) == 0  # before the States.ALL catch that records a failure


def test_the_hub_waits_for_the_discovery_budget_in_a_wait_state(states):
    """Hub refused with "retry after N s: ..." -> wait N s -> discover again (the loop's limits and its Wait are
    asserted for the hub and the spoke alike in test_workflow.py); here what only discovery has."""
    hub = states["Hub"]
    # The hub reads the run request from the execution's input: the state carries the wait's bookkeeping.
    assert hub["Parameters"]["Payload"]["request.$"] == "$$.Execution.Input"
    (catch,) = hub["Catch"]  # nothing but a rate limit is caught: any other error fails the run
    assert catch["ErrorEquals"] == ["RateLimitError", "RateLimitResetError"]
    assert catch["ResultPath"] == "$.discovery_error"  # beside the request, which the hub reads again
    # The first refusal finds no count of waits yet: it starts at 0; a later one keeps its count.
    first = states[catch["Next"]]
    (counted,) = first["Choices"]
    assert (counted["Variable"], counted["IsPresent"]) == ("$.discovery.waits", True)
    start = states[first["Default"]]
    assert (start["Parameters"], start["ResultPath"]) == ({"waits": 0}, "$.discovery")
    assert start["Next"] == counted["Next"]
    # A discovery that cannot wait fails the run with the hub's own error, as an uncaught error did before.
    failed = states["DiscoveryFailed"]
    assert (failed["Type"], failed["ErrorPath"], failed["CausePath"]) == (
        "Fail",
        "$.discovery.error.Error",
        "$.discovery.error.Cause",
    )
