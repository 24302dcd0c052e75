"""Image push on Kubernetes end to end: a stack deployed with image_push.eks_clusters, an ECR push through the
synthesized rule's Kubernetes target into the workflow on the embedded engine, the image index covering the EKS
clusters' workloads (read through the local Kubernetes API with EKS tokens signed under each account's target
role), and k8s-rollout-restart restarting every workload that runs the pushed image, once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from devtools.kubernetes import KubernetesServer, moto_credentials
from devtools.kubernetes.world import WorldKubernetes
from hubspoke.engine import LocalEngine
from hubspoke.synth import synthesize_cached, watching
from hubspoke.trigger import matches, rules_targeting, transform
from hubspoke.world import EksCluster, World, add_eks_cluster, load_into_engine
from tests.conftest import load_event

pytestmark = pytest.mark.e2e
WORLD = Path(__file__).parents[2] / "examples" / "eks-push-world.json"
A, B = "620100300400", "730200400500"
EU, AP = "eu-west-3", "ap-south-1"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Written from the requirement (tests/events/ecr_push_web.json pushes 123456789012's web:1.4, us-east-1): 23 of the
# world's 29 workloads run it, 2 of them only in an init container; 5 run a look-alike, 1 another image.
USERS = {
    f"{A}/{EU}/a-eu-1": {"d01", "d02", "d03", "d04", "s01", "ds01"},
    f"{A}/{EU}/a-eu-2": {"d05", "d06", "d07", "s02"},
    f"{A}/{AP}/a-ap-1": {"d08", "d09", "d10", "ds02"},
    f"{B}/{EU}/b-eu-1": {"d11", "d12", "d13", "s03"},
    f"{B}/{EU}/b-eu-2": {"d14", "d15", "s04"},
    f"{B}/{AP}/b-ap-1": {"d16", "ds03"},
}
LOOK_ALIKES = {"lookalike-tag", "lookalike-prefix", "lookalike-registry", "lookalike-hub", "lookalike-region"}


@pytest.fixture(scope="module")
def eks_stack(synth_cache):
    overrides = watching(["web"], [])
    assert overrides is not None
    overrides["image_push"] |= {"accounts": [A, B], "regions": [EU, AP], "eks_clusters": ["*"]}
    return synthesize_cached(synth_cache, overrides)


@pytest.fixture
def scenario(eks_stack, tmp_path):
    with (
        KubernetesServer(credentials=moto_credentials()) as kubernetes,
        LocalEngine(eks_stack, time_scale=0.01, log_path=tmp_path / "l.log") as engine,
    ):
        world = World.model_validate(json.loads(WORLD.read_text()))
        assert load_into_engine(engine, world, kubernetes=WorldKubernetes(kubernetes)) == 0  # no ECS service
        (machine,) = eks_stack.resources("AWS::StepFunctions::StateMachine")
        (rule,) = rules_targeting(eks_stack, machine)
        yield engine, kubernetes, rule


def kubernetes_target(rule: dict[str, Any]) -> dict[str, Any]:
    (target,) = [t for t in rule["Targets"] if "k8s-rollout-restart" in json.dumps(t)]
    found: dict[str, Any] = target
    return found


def restarts(kubernetes: KubernetesServer) -> Counter[str]:
    """PATCHes of a workload that set the restart annotation, by <cluster>/<name> (the double's request log)."""
    return Counter(
        f"{r.cluster}/{r.path.rsplit('/', 1)[-1]}"
        for r in kubernetes.requests
        if r.method == "PATCH" and r.status == 200 and "/apis/apps/v1/" in r.path
    )


def annotated(kubernetes: KubernetesServer) -> set[str]:
    """Every workload whose pod template carries kubectl's restartedAt annotation, by account/region/cluster/name."""
    found = set()
    for (account, region, name), cluster in kubernetes.clusters.items():
        for key in cluster.objects:
            obj = kubernetes.get(cluster, "apps/v1", _kind(key), key[2], key[3])
            if obj is None:
                continue
            annotations = obj["spec"]["template"].get("metadata", {}).get("annotations", {})
            if RESTARTED_AT in annotations:
                found.add(f"{account}/{region}/{name}/{obj['metadata']['name']}")
    return found


def _kind(key: tuple[str, str, str, str]) -> str:
    return {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}[key[1]]


@pytest.mark.parametrize("index", [True, False], ids=["index", "live-scan"])
def test_a_push_restarts_the_23_workloads_that_run_the_image_once(scenario, index):
    engine, kubernetes, rule = scenario
    if index:
        out = engine.runtime.invoke(engine.function_named("indexer."), "{}")
        assert "unreachable" not in json.dumps(out) or '"unreachable": {}' in json.dumps(out)
    event = load_event("ecr_push_web.json")
    target = kubernetes_target(rule)
    assert matches(rule, event)
    # WHEN the push is delivered
    result = engine.run(transform(target, event), execution_name="push-k8s-1")
    # THEN the 23 workloads that run web:1.4 restart, in 6 clusters of 2 accounts, and nothing else
    summary = result.summary
    assert summary is not None
    assert (result.status, summary["total"], summary["succeeded"], summary["failed"]) == ("SUCCEEDED", 23, 23, 0)
    assert summary["notes"]["discovery"].startswith("image index" if index else "scanned Kubernetes live")
    rows = {r["target_id"]: r for r in engine.ledger(result.run_id)}
    kinds = Counter(target_id.split("/")[4] for target_id in rows)
    assert kinds == {"Deployment": 16, "StatefulSet": 4, "DaemonSet": 3}
    expected = {f"{cluster}/{name}" for cluster, names in USERS.items() for name in names}
    assert len(expected) == 23
    assert annotated(kubernetes) == expected
    assert {f"{t.split('/')[2]}" for t in rows} == {c.rsplit("/", 1)[-1] for c in USERS}  # 6 clusters
    assert {t.split("/")[0] for t in rows} == {A, B}
    # the two that use it only in an init container are among them; no look-alike is
    assert {"ds01", "d13"} <= {t.rsplit("/", 1)[-1] for t in rows}
    assert not LOOK_ALIKES & {t.rsplit("/", 1)[-1] for t in rows}
    first = restarts(kubernetes)
    assert sum(first.values()) == 23
    assert set(first.values()) == {1}
    # WHEN the same event is delivered again
    again = engine.run(transform(target, event), execution_name="push-k8s-2")
    # THEN nothing restarts a second time
    assert again.summary is not None
    assert (again.summary["total"], again.summary["unchanged"], again.summary["succeeded"]) == (23, 23, 0)
    assert restarts(kubernetes) == first


def test_a_cluster_without_an_access_entry_is_named_and_the_others_restart(scenario):
    engine, kubernetes, rule = scenario
    refused = EksCluster.model_validate(
        {
            "name": "no-entry",
            "access_entry": False,
            "workloads": [
                {"kind": "Deployment", "name": "web", "image": ("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4")}
            ],
        }
    )
    add_eks_cluster(A, EU, refused, WorldKubernetes(kubernetes))
    engine.runtime.invoke(engine.function_named("indexer."), "{}")
    result = engine.run(transform(kubernetes_target(rule), load_event("ecr_push_web.json")), execution_name="no-entry")
    summary = result.summary
    assert summary is not None
    assert (summary["total"], summary["succeeded"]) == (23, 23)
    (place,) = summary["notes"]["unreachable"]
    assert place == f"{A}/{EU}/no-entry"
    assert summary["notes"]["unreachable"][place].startswith("CredentialsError")


def test_the_same_push_restarts_no_ecs_service_in_the_ecs_run(scenario):
    engine, _, rule = scenario
    ecs_target = next(t for t in rule["Targets"] if "k8s-rollout-restart" not in json.dumps(t))
    result = engine.run(transform(ecs_target, load_event("ecr_push_web.json")), execution_name="push-ecs")
    assert result.summary is not None
    assert result.summary["total"] == 0
