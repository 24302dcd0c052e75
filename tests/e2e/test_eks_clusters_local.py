"""The `eks-clusters` source inside the synthesized stack on the local engine: the hub Lambda lists the EKS clusters
of other accounts and regions in moto's EKS through the target role (the engine evaluates its trust policy, so an
account without the role is refused as STS refuses it)."""

from __future__ import annotations

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.world import EksCluster, World, add_eks_cluster, load_into_engine

pytestmark = pytest.mark.e2e

A, B, NO_ROLE = "662607015000", "602214076000", "137035999084"
EU, US = "eu-north-1", "us-east-2"
WORLD = {
    "accounts": [
        {
            "id": A,
            "regions": [
                {
                    "name": EU,
                    "eks_clusters": [
                        {"name": "prod-1", "tags": {"tier": "prod"}},
                        {"name": "prod-legacy", "tags": {"tier": "legacy"}},
                        {"name": "dev-1", "tags": {"tier": "prod"}},
                    ],
                },
                {"name": US, "eks_clusters": [{"name": "prod-2", "tags": {"tier": "prod"}, "version": "1.30"}]},
            ],
        },
        {"id": B, "regions": [{"name": US, "eks_clusters": [{"name": "prod-3", "tags": {"tier": "prod"}}]}]},
        # An account that never deployed HubSpokeTargetRole: AssumeRole is refused there.
        {"id": NO_ROLE, "target_role": False, "regions": [{"name": EU, "eks_clusters": [{"name": "prod-9"}]}]},
    ]
}
SOURCE = {"type": "eks-clusters", "regions": [EU, US], "name_pattern": "prod-*", "tags": {"tier": "prod"}}


def test_eks_clusters_of_two_accounts_then_a_refused_account_then_a_new_cluster(engine: LocalEngine) -> None:
    load_into_engine(engine, World.model_validate(WORLD))
    first = engine.run({"operation": "noop", "run_id": "eks-fleet-1", "source": {**SOURCE, "accounts": [A, B]}})
    assert first.summary is not None
    assert (first.status, first.summary["total"], first.summary["succeeded"]) == ("SUCCEEDED", 3, 3)
    assert sorted(row["target_id"] for row in engine.ledger("eks-fleet-1")) == [
        f"{B}/{US}/prod-3",
        f"{A}/{EU}/prod-1",
        f"{A}/{US}/prod-2",
    ]
    assert first.summary["notes"]["eks_clusters"]["left_out"] == {"name": 1, "tags": 1}
    # An account without the role: the run is refused at the hub, naming the account in both regions.
    refused = engine.run({"operation": "noop", "run_id": "eks-fleet-x", "source": {**SOURCE, "accounts": [A, NO_ROLE]}})
    assert refused.status == "FAILED"
    assert engine.ledger("eks-fleet-x") == []
    skipped = engine.run(
        {
            "operation": "noop",
            "run_id": "eks-fleet-s",
            "source": {**SOURCE, "accounts": [A, NO_ROLE], "skip_unreachable": True},
        }
    )
    assert skipped.summary is not None
    assert skipped.summary["total"] == 2
    assert skipped.summary["notes"]["eks_clusters"]["unreachable"] == 2
    # A cluster added to the world is found by the next run, with no setting changed.
    add_eks_cluster(B, EU, EksCluster(name="prod-4", tags={"tier": "prod"}))
    second = engine.run({"operation": "noop", "run_id": "eks-fleet-2", "source": {**SOURCE, "accounts": [A, B]}})
    assert second.summary is not None
    assert (second.status, second.summary["total"]) == ("SUCCEEDED", 4)
    assert f"{B}/{EU}/prod-4" in {row["target_id"] for row in engine.ledger("eks-fleet-2")}
