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


HELM_CONFIG_MAP = {
    "manager": "helm",
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "platform-settings", "namespace": "kube-system"},
    "data": {"mode": "permissive"},
}


def test_an_object_another_manager_deployed_is_seeded_as_that_manager_owns_it():
    from devtools.kubernetes import KubernetesServer
    from devtools.kubernetes.world import WorldKubernetes

    cluster = EksCluster.model_validate({"name": "legacy", "objects": [HELM_CONFIG_MAP]})
    (obj,) = cluster.objects
    assert obj.manifest() == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "platform-settings", "namespace": "kube-system"},
        "data": {"mode": "permissive"},
    }
    server = KubernetesServer()  # not started: seeding and reading need no socket
    WorldKubernetes(server).add_cluster("410500600700", "us-west-2", cluster)
    seeded = server.get(server.cluster("legacy"), "v1", "ConfigMap", "kube-system", "platform-settings")
    assert seeded is not None
    assert seeded["data"] == {"mode": "permissive"}
    (owner,) = seeded["metadata"]["managedFields"]
    assert (owner["manager"], owner["fieldsV1"]) == ("helm", {"f:data": {"f:mode": {}}})


def test_an_object_without_a_manager_is_kubectls():
    obj = {k: v for k, v in HELM_CONFIG_MAP.items() if k != "manager"}
    (seeded,) = EksCluster.model_validate({"name": "legacy", "objects": [obj]}).objects
    assert seeded.manager == "kubectl-client-side-apply"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "Secret"}, "eks_clusters.0.objects.0.kind"),
        ({"apiVersion": "apps/v1"}, "eks_clusters.0.objects.0"),  # a ConfigMap is v1
        ({"metadata": {"name": "Platform"}}, "eks_clusters.0.objects.0.metadata.name"),  # not DNS-1123
        ({"metadata": {"name": "p", "namespace": "kube_system"}}, "eks_clusters.0.objects.0.metadata.namespace"),
        ({"manager": ""}, "eks_clusters.0.objects.0.manager"),
        ({"manager": "h" * 129}, "eks_clusters.0.objects.0.manager"),
        ({"spec": {"podSelector": {}}}, "eks_clusters.0.objects.0"),  # a ConfigMap has data
        ({"status": {}}, "eks_clusters.0.objects.0.status"),  # not a field a world may set
        ({"data": {"mode": 1}}, "eks_clusters.0.objects.0.data.mode"),  # ConfigMap data are strings
    ],
)
def test_a_bad_object_is_refused_naming_its_field(change: dict[str, Any], field: str):
    with pytest.raises(ValidationError) as refused:
        World.model_validate({"eks_clusters": [{"name": "legacy", "objects": [{**HELM_CONFIG_MAP, **change}]}]})
    fields = [".".join(str(p) for p in e["loc"]) for e in refused.value.errors()]
    assert field in fields


def test_an_object_listed_twice_is_refused():
    with pytest.raises(ValidationError, match="an object \\(kind, namespace, name\\) is listed twice"):
        EksCluster.model_validate({"name": "legacy", "objects": [HELM_CONFIG_MAP, HELM_CONFIG_MAP]})


def test_the_apply_example_world_holds_ten_clusters_one_without_access_and_one_helm_owned():
    world = World.model_validate(json.loads((EXAMPLES / "eks-apply-world.json").read_text()))
    places = world.eks_places()
    assert len(places) == 10
    assert {(a, r) for a, r, _ in places} == {
        (a, r) for a in ("410500600700", "520600700800") for r in ("eu-central-1", "us-west-2")
    }
    assert [c.name for _, _, c in places if not c.access_entry] == ["no-access-entry"]
    assert [(c.name, o.manager, o.kind) for _, _, c in places for o in c.objects] == [
        ("helm-managed", "helm", "ConfigMap")
    ]
