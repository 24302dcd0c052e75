"""The hub's grant for `ecs-clusters` with `organization: true`: AWS Organizations ListAccounts, and no ECS grant
for listing clusters (the source lists them through the target role in each account, the hub's own included)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam import Call, allows, ecs_arn, function_statements, resource_types


def test_the_hub_may_list_the_organizations_accounts(template: dict[str, Any]) -> None:
    # ListAccounts supports no resource type (Service Authorization Reference): only Resource "*" matches it.
    assert resource_types("organizations:ListAccounts") == []
    assert allows(function_statements(template, "hub."), Call("organizations:ListAccounts", ("*",)))


@pytest.mark.parametrize("handler", ["spoke.", "summarize.", "gate.", "indexer."])
def test_no_other_function_may_list_the_organization(template: dict[str, Any], handler: str) -> None:
    assert not allows(function_statements(template, handler), Call("organizations:ListAccounts", ("*",)))


def test_the_hub_describes_no_cluster_with_its_own_role(template: dict[str, Any]) -> None:
    assert not allows(
        function_statements(template, "hub."), Call("ecs:DescribeClusters", (ecs_arn("cluster", "prod-api"),))
    )
