"""ecs-run-task's params, error mapping, token and plan cost (the runs themselves: tests/integration and e2e)."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from shared.config import HubEnv
from shared.errors import RateLimitError, TargetError, TransientError
from shared.operations import OPERATIONS
from spoke.operations import ecs_run_task
from spoke.operations.ecs_run_task import Params
from tests.envs import VARIABLES


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "RunTask")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ThrottlingException", RateLimitError),
        ("TooManyRequestsException", RateLimitError),
        ("AccessDeniedException", TargetError),
        ("ClusterNotFoundException", TargetError),
        ("ClientException", TargetError),
        ("InvalidParameterException", TargetError),
        ("ServerException", TransientError),
    ],
)
def test_ecs_errors_map_to_step_functions_errors(code, error):
    assert type(ecs_run_task._ecs_error(client_error(code), "running migrate")) is error


def test_the_operation_is_registered_with_its_check():
    operation = OPERATIONS["ecs-run-task"]
    assert (operation.params, operation.check) == (Params, ecs_run_task.check)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "task_definition"),
        ({"task_definition": "migrate:0"}, "task_definition"),
        (
            {
                "task_definition": "migrate",
                "launch_type": "FARGATE",
                "capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT"}],
            },
            "launch_type or capacity_provider_strategy, not both",
        ),
        ({"task_definition": "migrate", "command": ["./go"]}, "command and container go together"),
        ({"task_definition": "migrate", "launch_type": "LAMBDA"}, "launch_type"),
        ({"task_definition": "migrate", "retries": 2}, "Extra inputs are not permitted"),
        ({"task_definition": "migrate", "wait_timeout_seconds": 861}, "less than or equal to 860"),
        (
            {
                "task_definition": "migrate",
                "container": "app",
                "command": ["x"],
                "container_overrides": [{"name": "app", "environment": {"A": "1"}}],
            },
            "each container is named once",
        ),
    ],
)
def test_invalid_params_are_refused(params, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        Params.model_validate(params)


def test_run_task_request_carries_overrides_network_and_token():
    params = Params.model_validate(
        {
            "task_definition": "migrate:7",
            "container": "app",
            "command": ["./manage.py", "migrate"],
            "container_overrides": [{"name": "sidecar", "environment": {"MODE": "once"}}],
            "capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT", "weight": 2}],
            "network_configuration": {"subnets": ["subnet-1"], "security_groups": ["sg-1"], "assign_public_ip": True},
        }
    )
    kwargs = ecs_run_task._run_kwargs(params, "batch", "hubspoke-abc", "run-7", "acct/eu-west-1/batch#1")
    assert kwargs == {
        "cluster": "batch",
        "taskDefinition": "migrate:7",
        "count": 1,
        "startedBy": "hubspoke-abc",
        "tags": [
            {"key": "hubspoke:run", "value": "run-7"},
            {"key": "hubspoke:target", "value": "acct/eu-west-1/batch_1"},
        ],
        "overrides": {
            "containerOverrides": [
                {"name": "sidecar", "environment": [{"name": "MODE", "value": "once"}]},
                {"name": "app", "command": ["./manage.py", "migrate"]},
            ]
        },
        "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 2, "base": 0}],
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}
        },
    }


def test_started_by_is_deterministic_per_run_and_target_and_fits_ecs():
    token = ecs_run_task.started_by("run-7", "a" * 1000)
    assert token == ecs_run_task.started_by("run-7", "a" * 1000)
    assert token != ecs_run_task.started_by("run-8", "a" * 1000)
    assert token != ecs_run_task.started_by("run-7", "b")
    # ECS: up to 128 letters, numbers, hyphens, forward slashes and underscores
    assert re.fullmatch(r"[A-Za-z0-9_/-]{1,128}", token)


def test_a_task_that_failed_to_start_is_transient():
    task = {"taskArn": "arn:t/1", "lastStatus": "STOPPED", "stopCode": "TaskFailedToStart", "stoppedReason": "no ENI"}
    with pytest.raises(TransientError, match="failed to start: no ENI"):
        ecs_run_task._outcome(None, "batch", task)


@pytest.fixture
def hub_env() -> HubEnv:
    return HubEnv.model_validate(VARIABLES)


def test_plan_cost_is_the_wait_and_check_holds_it_to_the_spoke_timeout(hub_env):
    # GIVEN the deployment's spoke_timeout_seconds 300 (tests/envs.py)
    assert ecs_run_task.spoke_seconds(Params(task_definition="m", wait_timeout_seconds=120), hub_env) == 120
    assert ecs_run_task.spoke_seconds(Params(task_definition="m"), hub_env) == 240  # the default wait
    assert ecs_run_task.check(Params(task_definition="m", wait_timeout_seconds=270), hub_env) == []
    (problem,) = ecs_run_task.check(Params(task_definition="m", wait_timeout_seconds=271), hub_env)
    assert problem.startswith("params.wait_timeout_seconds: a wait of 271 s does not fit")
    assert problem.endswith("at most 270 s")


def test_the_default_wait_is_refused_by_a_deployment_with_a_shorter_spoke_timeout():
    # GIVEN a deployment whose Spoke task times out after 200 s: 170 s of wait at most
    env = HubEnv.model_validate({**VARIABLES, "SPOKE_TIMEOUT_SECONDS": "200"})
    (problem,) = ecs_run_task.check(Params(task_definition="m"), env)
    assert problem.startswith("params.wait_timeout_seconds (the default, 240 s): a wait of 240 s does not fit")
    assert problem.endswith("at most 170 s")
