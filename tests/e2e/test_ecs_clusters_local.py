"""The `ecs-clusters` source inside the synthesized stack on the local engine: the hub Lambda, with the
deployment's own environment, lists clusters of other accounts and regions in moto through the target role."""

from __future__ import annotations

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.world import World, in_account, load_into_engine

pytestmark = pytest.mark.e2e

A, B = "577215664901", "141421356237"
EU, US = "eu-central-1", "us-west-2"
WORLD = {
    "accounts": [
        {
            "id": A,
            "regions": [
                {"name": EU, "clusters": [{"name": "prod-1", "tags": {"tier": "prod"}}, {"name": "dev-1"}]},
                {"name": US, "clusters": [{"name": "prod-2", "tags": {"tier": "prod"}}]},
            ],
        },
        {"id": B, "regions": [{"name": US, "clusters": [{"name": "prod-3", "tags": {"tier": "prod"}}]}]},
    ]
}
SOURCE = {"type": "ecs-clusters", "accounts": [A, B], "regions": [EU, US], "name_pattern": "prod-*"}


def test_a_run_over_the_clusters_of_two_accounts_and_the_next_run_finds_a_new_one(engine: LocalEngine) -> None:
    load_into_engine(engine, World.model_validate(WORLD))  # each account gets its HubSpokeTargetRole
    first = engine.run({"operation": "noop", "run_id": "fleet-1", "source": SOURCE})
    assert first.summary is not None
    assert (first.status, first.summary["total"], first.summary["succeeded"]) == ("SUCCEEDED", 3, 3)
    assert sorted(row["target_id"] for row in engine.ledger("fleet-1")) == [
        f"{B}/{US}/prod-3",
        f"{A}/{EU}/prod-1",
        f"{A}/{US}/prod-2",
    ]
    assert first.summary["notes"]["ecs_clusters"]["left_out"] == {"name": 1}
    in_account(engine.ecs, B, EU).create_cluster(clusterName="prod-4")
    second = engine.run({"operation": "noop", "run_id": "fleet-2", "source": SOURCE})
    assert second.summary is not None
    assert (second.status, second.summary["total"]) == ("SUCCEEDED", 4)
