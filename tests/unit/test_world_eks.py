"""The world file's EKS clusters: what a world may say, and what it refuses (before anything starts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hubspoke.world import EksCluster, World

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_every_example_world_is_valid():
    # The worlds written before EKS clusters existed stay valid, and the EKS one holds what its tests count on.
    for path in (EXAMPLES / name for name in ("world.json", "fleet-accounts.json", "eks-push-world.json")):
        World.model_validate(json.loads(path.read_text()))
    eks = World.model_validate(json.loads((EXAMPLES / "eks-push-world.json").read_text()))
    places = eks.eks_places()
    assert len(places) == 6
    assert {account for account, _, _ in places} == {"620100300400", "730200400500"}
    assert sum(len(c.workloads) for _, _, c in places) == 29


def test_a_workload_with_image_is_one_container_named_app():
    cluster = EksCluster.model_validate(
        {"name": "prod", "workloads": [{"kind": "StatefulSet", "name": "db", "image": "postgres:16", "replicas": 3}]}
    )
    (workload,) = cluster.workloads
    assert [(c.name, c.image) for c in workload.containers] == [("app", "postgres:16")]
    assert (workload.namespace, workload.replicas, cluster.access_entry, cluster.version) == (
        "default",
        3,
        True,
        "1.31",
    )


@pytest.mark.parametrize(
    "cluster",
    [
        {"name": "-bad"},  # an EKS name starts with a letter or digit
        {"name": "prod", "version": "2.0"},
        {"name": "prod", "workloads": [{"kind": "CronJob", "name": "x", "image": "a:1"}]},
        {"name": "prod", "workloads": [{"kind": "Deployment", "name": "x"}]},  # no image at all
        {
            "name": "prod",
            "workloads": [
                {"kind": "Deployment", "name": "x", "image": "a:1", "containers": [{"name": "b", "image": "b"}]}
            ],
        },
        {"name": "prod", "workloads": [{"kind": "Deployment", "name": "Web", "image": "a:1"}]},  # not DNS-1123
        {"name": "prod", "workloads": [{"kind": "Deployment", "name": "x", "image": "a:1"}] * 2},  # listed twice
        {"name": "prod", "access": False},
    ],
)
def test_a_bad_eks_cluster_is_refused(cluster: dict[str, Any]):
    with pytest.raises(ValidationError):
        World.model_validate({"eks_clusters": [cluster]})
