"""The spoke's grants for ecs-run-task on clusters of the deployment's own account, as synthesized.

Expected statements are written from the Service Authorization Reference for Amazon ECS: RunTask on the task
definition, DescribeTasks on the task, ListTasks on '*' with the ecs:cluster condition, DescribeTaskDefinition
on '*', TagResource only on create (ecs:CreateAction RunTask), iam:PassRole only to ecs-tasks.amazonaws.com.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam import ACCOUNT, Call, allows, function_statements

IN_ACCOUNT = f"arn:aws:ecs:*:{ACCOUNT}"
EXPECTED: list[dict[str, Any]] = [
    {"Action": "ecs:RunTask", "Effect": "Allow", "Resource": f"{IN_ACCOUNT}:task-definition/*"},
    {"Action": "ecs:DescribeTasks", "Effect": "Allow", "Resource": f"{IN_ACCOUNT}:task/*"},
    {
        "Action": "ecs:ListTasks",
        "Condition": {"ArnLike": {"ecs:cluster": f"{IN_ACCOUNT}:cluster/*"}},
        "Effect": "Allow",
        "Resource": "*",
    },
    {"Action": "ecs:DescribeTaskDefinition", "Effect": "Allow", "Resource": "*"},
    {
        "Action": "ecs:TagResource",
        "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
        "Effect": "Allow",
        "Resource": f"{IN_ACCOUNT}:task/*",
    },
    {
        "Action": "iam:PassRole",
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        "Effect": "Allow",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/*",
    },
]
CLUSTER = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/batch"
TASK = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task/batch/0123456789abcdef"


def listed(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def test_the_spoke_has_the_run_task_statements(template):
    statements = function_statements(template, "spoke.")
    for expected in EXPECTED:
        # CDK merges statements that differ only in their actions, so find the action in one with the same rest.
        same = [
            s
            for s in statements
            if expected["Action"] in listed(s["Action"])
            and {k: v for k, v in s.items() if k != "Action"} == {k: v for k, v in expected.items() if k != "Action"}
        ]
        assert same, expected


@pytest.mark.parametrize(
    "call",
    [
        Call("ecs:RunTask", (f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/migrate:7",), {"ecs:cluster": CLUSTER}),
        Call("ecs:DescribeTasks", (TASK,), {"ecs:cluster": CLUSTER}),
        Call("ecs:ListTasks", ("*",), {"ecs:cluster": CLUSTER}),
        Call("ecs:TagResource", (TASK,), {"ecs:CreateAction": "RunTask"}),
        Call(
            "iam:PassRole",
            (f"arn:aws:iam::{ACCOUNT}:role/migrate-task",),
            {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
        ),
    ],
)
def test_what_ecs_run_task_needs_is_allowed(template, call):
    assert allows(function_statements(template, "spoke."), call)


@pytest.mark.parametrize(
    "call",
    [
        # Another account's cluster: only through that account's HubSpokeTargetRole.
        Call("ecs:ListTasks", ("*",), {"ecs:cluster": "arn:aws:ecs:eu-west-1:210987654321:cluster/batch"}),
        # Tagging an existing task, not one RunTask creates.
        Call("ecs:TagResource", (TASK,), {"ecs:CreateAction": "TagResource"}),
        Call("ecs:TagResource", (TASK,), {}),
        # A role passed to another service (Lambda, EC2).
        Call("iam:PassRole", (f"arn:aws:iam::{ACCOUNT}:role/admin",), {"iam:PassedToService": "lambda.amazonaws.com"}),
    ],
)
def test_what_ecs_run_task_does_not_need_is_refused(template, call):
    assert not allows(function_statements(template, "spoke."), call)
