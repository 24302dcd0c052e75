"""ecs-restart's error mapping and rollout wait.

moto does not model ECS rollout states or throttling, so these use a small stand-in ECS client; the
restart itself runs against moto in tests/e2e/test_image_push.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.errors import RateLimitError, TargetError, TransientError
from spoke.operations import ecs_restart


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "UpdateService")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ServiceNotFoundException", TargetError),
        ("ServiceNotActiveException", TargetError),
        ("ClusterNotFoundException", TargetError),
        ("AccessDeniedException", TargetError),
        ("ThrottlingException", RateLimitError),
        ("TooManyRequestsException", RateLimitError),
        ("ServerException", TransientError),
    ],
)
def test_ecs_errors_map_to_step_functions_errors(code, error):
    assert isinstance(ecs_restart._ecs_error(client_error(code), "restarting web"), error)


class RolloutEcs:
    """Answers DescribeServices with a deployment that goes through the given rollout states."""

    def __init__(self, states: list[str]) -> None:
        self.states = states

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {
            "services": [{"deployments": [{"id": "d-1", "rolloutState": state, "rolloutStateReason": "tasks failed"}]}]
        }


@pytest.fixture
def rollout(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("spoke.operations.ecs_restart.clock.sleep", slept.append)

    def use(states: list[str]) -> tuple[RolloutEcs, list[float]]:
        return RolloutEcs(states), slept

    return use


def test_wait_for_steady_until_completed(rollout):
    ecs, slept = rollout(["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"])
    assert ecs_restart._wait_for_steady(ecs, "c", "web", "d-1", 600) == "COMPLETED"
    assert slept == [10, 10]


def test_a_failed_rollout_fails_the_target(rollout):
    ecs, _ = rollout(["IN_PROGRESS", "FAILED"])
    with pytest.raises(TargetError, match="failed: tasks failed"):
        ecs_restart._wait_for_steady(ecs, "c", "web", "d-1", 600)


def test_a_slow_rollout_fails_the_target_after_the_timeout(rollout):
    ecs, slept = rollout(["IN_PROGRESS"])
    with pytest.raises(TargetError, match="not steady after 30 s"):
        ecs_restart._wait_for_steady(ecs, "c", "web", "d-1", 30)
    assert sum(slept) == 30
