"""ecs-restart's rollout wait must end inside the Spoke task's timeout (default 300 s): a longer wait fails the
target States.Timeout mid-wait. The hub refuses such a run naming the field; synth refuses such defaults."""

from __future__ import annotations

import pytest

from hub.logic import validate_request
from shared.config import HubEnv
from shared.errors import InvalidRunRequest
from spoke.operations import ecs_restart
from stacks.settings import STEADY_MARGIN_SECONDS, SettingsError, load_settings
from tests.envs import VARIABLES

SPOKE_TIMEOUT = 300  # the default spoke_timeout_seconds
LONGEST_WAIT = SPOKE_TIMEOUT - 30  # 30 s of the task are for the restart itself


def deployment() -> HubEnv:
    values = {
        **VARIABLES,
        "SPOKE_TIMEOUT_SECONDS": str(SPOKE_TIMEOUT),
        "STEADY_TIMEOUT_SECONDS": "600",  # a deployment default too long for the spoke timeout
    }
    return HubEnv.model_validate(values)


def request(**params: object) -> dict[str, object]:
    return {"operation": "ecs-restart", "params": params, "source": {"type": "static", "targets": []}}


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        # Longer than any Spoke task can be (890 s at most): refused by the model itself.
        ({"wait_for_steady": True, "steady_timeout_seconds": 3600}, "params.steady_timeout_seconds", "860"),
        (
            {"wait_for_steady": True, "steady_timeout_seconds": LONGEST_WAIT + 1},
            "params.steady_timeout_seconds",
            f"at most {LONGEST_WAIT} s",
        ),
        # No timeout given: the deployment's default (600 s here) applies, and does not fit either.
        ({"wait_for_steady": True}, "params.wait_for_steady", f"at most {LONGEST_WAIT} s"),
    ],
)
def test_a_wait_longer_than_the_spoke_timeout_is_refused_naming_the_field(params, field, says):
    with pytest.raises(InvalidRunRequest) as refused:
        validate_request(request(**params), "exec", deployment())
    (problem,) = refused.value.problems
    assert problem.startswith(f"{field}:")
    assert says in problem


@pytest.mark.parametrize(
    "params",
    [
        {"wait_for_steady": True, "steady_timeout_seconds": LONGEST_WAIT},
        {"wait_for_steady": False, "steady_timeout_seconds": 600},
        {},  # the deployment does not wait (image_push.wait_for_steady false)
    ],
)
def test_a_wait_that_fits_is_accepted(params):
    validate_request(request(**params), "exec", deployment())


def test_the_deployment_may_not_default_to_a_wait_longer_than_the_spoke_timeout():
    with pytest.raises(SettingsError, match=r"image_push.steady_timeout_seconds \(600\).*at most 270"):
        load_settings({"image_push": {"wait_for_steady": True, "steady_timeout_seconds": 600}})
    settings = load_settings({"image_push": {"wait_for_steady": True, "steady_timeout_seconds": 270}})
    assert settings.image_push.steady_timeout_seconds == 270


def test_the_margin_is_the_same_on_both_sides():
    assert ecs_restart.STEADY_MARGIN_SECONDS == STEADY_MARGIN_SECONDS == 30


def test_the_shipped_default_fits_the_shipped_spoke_timeout():
    # GIVEN cdk.json as shipped WHEN a user turns the rollout wait on THEN synth accepts it (240 s <= 300 - 30)
    import json
    from pathlib import Path

    context = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]["hubspoke"]
    push = {**context["image_push"], "wait_for_steady": True}
    settings = load_settings({**context, "image_push": push})
    assert settings.image_push.steady_timeout_seconds == 240
