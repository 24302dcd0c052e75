"""The image index on Kubernetes, handlers on moto and the local Kubernetes API: the indexer reads the workloads of
the EKS clusters image_push.eks_clusters names (every container, init containers too) beside the ECS services, and
image-users hands each platform's run only its own targets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from indexer.handler import handler as indexer

from devtools.kubernetes import KubernetesServer, moto_credentials
from devtools.kubernetes.world import WorldKubernetes
from hub.handler import handler as hub
from hubspoke.world import World, load_eks, load_world
from shared.errors import InvalidRunRequest

from .conftest import BUCKET, INDEX_TABLE

A, B = "811922033044", "922033144055"
EU = "eu-south-1"
REG = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32


def deploy(name: str, image: str, kind: str = "Deployment", **more: Any) -> dict[str, Any]:
    return {"kind": kind, "namespace": "apps", "name": name, "image": image, **more}


WORLD = {
    "clusters": [{"name": "ecs-home", "services": [{"name": "web", "image": f"{REG}/web:2.0"}]}],
    "accounts": [
        {
            "id": A,
            "regions": [
                {
                    "name": EU,
                    "clusters": [{"name": "ecs-a", "services": [{"name": "web", "image": f"{REG}/web:2.0"}]}],
                    "eks_clusters": [
                        {
                            "name": "prod-a",
                            "workloads": [
                                deploy("web", f"{REG}/web:2.0"),
                                deploy("cache", f"{REG}/web:2.0", kind="StatefulSet"),
                                {
                                    "kind": "DaemonSet",
                                    "namespace": "kube-system",
                                    "name": "agent",
                                    "containers": [{"name": "agent", "image": f"{REG}/agent:1"}],
                                    "init_containers": [{"name": "init", "image": f"{REG}/web:2.0"}],
                                },
                                deploy("old", f"{REG}/web:1.9"),
                            ],
                        },
                        # Not matched by image_push.eks_clusters ("prod-*"): never read.
                        {"name": "sandbox", "workloads": [deploy("web", f"{REG}/web:2.0")]},
                    ],
                }
            ],
        },
        {
            "id": B,
            "regions": [
                {
                    "name": EU,
                    "eks_clusters": [
                        {"name": "prod-b", "workloads": [deploy("web", f"{REG}/web@{DIGEST}")]},
                        {"name": "prod-closed", "access_entry": False, "workloads": [deploy("web", f"{REG}/web:2.0")]},
                    ],
                }
            ],
        },
    ],
}


@pytest.fixture
def fleet(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubernetesServer]:
    monkeypatch.setenv("IMAGE_PUSH_ACCOUNTS", f"{A},{B}")
    monkeypatch.setenv("IMAGE_PUSH_REGIONS", EU)
    monkeypatch.setenv("EKS_CLUSTERS", "prod-*")
    world = World.model_validate(WORLD)
    assert load_world(boto3.client("ecs"), world) == 2
    with KubernetesServer(credentials=moto_credentials()) as kubernetes:
        assert load_eks("us-east-1", world, WorldKubernetes(kubernetes)) == 7
        yield kubernetes


def push(platform: str, run_id: str, tag: str = "2.0", digest: str = DIGEST) -> dict[str, Any]:
    source = {"type": "image-users", "repository": "web", "tag": tag, "digest": digest}
    source |= {"registry": "123456789012", "region": "us-east-1", "platform": platform}
    return {"operation": "noop", "run_id": run_id, "source": source}


def targets(aws: Any, context: Any, request: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = hub({"request": request, "execution_name": request["run_id"]}, context)
    items = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=out["manifest"]["key"])["Body"].read())
    return out, items


def test_the_index_holds_the_workloads_of_the_named_clusters_beside_the_services(fleet, aws, context):
    out = indexer({}, context)
    # One row per (repository, service or workload): 2 ECS services, and the 5 workloads of prod-a and prod-b
    # (sandbox is not named, prod-closed refuses the role), the agent twice (agent, and web in its init container)
    assert out["rows"] == 2 + 6
    assert list(out["unreachable"]) == [f"{B}/{EU}/prod-closed"]
    assert out["unreachable"][f"{B}/{EU}/prod-closed"].startswith("CredentialsError")
    raw = aws.dynamodb.scan(TableName=INDEX_TABLE)["Items"]
    workloads = sorted({i["service_arn"]["S"] for i in raw if "kind" in i})
    assert workloads == [
        f"arn:aws:eks:{EU}:{A}:cluster/prod-a/DaemonSet/kube-system/agent",  # its init container runs web
        f"arn:aws:eks:{EU}:{A}:cluster/prod-a/Deployment/apps/old",
        f"arn:aws:eks:{EU}:{A}:cluster/prod-a/Deployment/apps/web",
        f"arn:aws:eks:{EU}:{A}:cluster/prod-a/StatefulSet/apps/cache",
        f"arn:aws:eks:{EU}:{B}:cluster/prod-b/Deployment/apps/web",
    ]
    # Only the named clusters' APIs were asked (sandbox never), and each for the three workload kinds.
    asked = {(r.cluster, r.path.rsplit("/", 1)[-1]) for r in fleet.requests if r.method == "GET"}
    assert {cluster for cluster, _ in asked} == {"prod-a", "prod-b", "prod-closed"}
    assert {kind for cluster, kind in asked if cluster == "prod-a"} == {"deployments", "statefulsets", "daemonsets"}


@pytest.mark.parametrize("indexed", [True, False], ids=["index", "live-scan"])
def test_each_platforms_run_gets_only_its_own_targets(fleet, aws, context, indexed):
    if indexed:
        indexer({}, context)
    ecs_calls: list[str] = []
    events = boto3._get_default_session().events
    events.register("before-call.ecs", lambda model, **_: ecs_calls.append(model.name), unique_id="k8s-ecs-calls")
    try:
        out, k8s = targets(aws, context, push("kubernetes", f"k8s-{indexed}"))
    finally:
        events.unregister("before-call.ecs", unique_id="k8s-ecs-calls")
    assert ecs_calls == []  # a Kubernetes push never reads ECS, live scan or not
    assert sorted(t["id"] for t in k8s) == [
        f"{A}/{EU}/prod-a/apps/Deployment/web",
        f"{A}/{EU}/prod-a/apps/StatefulSet/cache",
        f"{A}/{EU}/prod-a/kube-system/DaemonSet/agent",
        f"{B}/{EU}/prod-b/apps/Deployment/web",
    ]
    by_id = {t["id"]: t for t in k8s}
    assert by_id[f"{A}/{EU}/prod-a/apps/Deployment/web"] == {
        "id": f"{A}/{EU}/prod-a/apps/Deployment/web",
        "account": A,
        "region": EU,
        "cluster": "prod-a",
        "namespace": "apps",
        "kind": "Deployment",
        "workload": "web",
        "image": f"{REG}/web:2.0",
        "digest": DIGEST,
    }
    assert out["notes"]["discovery"].startswith("image index" if indexed else "scanned Kubernetes live")
    assert list(out["notes"]["unreachable"]) == [f"{B}/{EU}/prod-closed"]
    _, ecs = targets(aws, context, push("ecs", f"ecs-{indexed}"))
    if not indexed:
        # the hook was in place: the ECS push's live scan, through the same clients, is seen calling ECS
        assert "ListServices" in ecs_calls
    assert sorted(t["id"] for t in ecs) == [f"{A}/{EU}/ecs-a/web", "ecs-home/web"]


def test_a_kubernetes_push_without_eks_clusters_set_is_refused_naming_the_field(aws, context, monkeypatch):
    monkeypatch.setenv("EKS_CLUSTERS", "")
    with pytest.raises(InvalidRunRequest) as err:
        targets(aws, context, push("kubernetes", "k8s-unset"))
    (problem,) = err.value.problems
    assert problem.startswith("source.platform: kubernetes, but this deployment indexes no EKS cluster")
