"""k8s-apply and k8s-rollout-restart through the spoke handler, against the local Kubernetes API on loopback and
moto for STS (the target accounts' roles, the tokens' keys) and EKS (DescribeCluster).

The world: 10 EKS clusters in 2 accounts (6 in TEAM_A/eu-west-1, 4 in TEAM_B/us-west-2). `no-entry` has no access
entry for TEAM_B (its only entry is another account); in `helm-owned` the ConfigMap's key `mode` was set by Helm.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.github.clock import ManualClock
from devtools.kubernetes import KubernetesServer, SimCluster, moto_credentials
from hubspoke.world import moto_client
from shared import eks_token
from shared.errors import CredentialsError, FieldConflictError, RateLimitError
from shared.kube import RESTARTED_AT
from shared.models import Target
from spoke.handler import handler as spoke

TEAM_A, TEAM_B = "210987654321", "345678901234"
EU, USW = "eu-west-1", "us-west-2"
PLACES = [(TEAM_A, EU, f"a-{i}") for i in range(1, 6)] + [(TEAM_A, EU, "helm-owned")]
PLACES += [(TEAM_B, USW, f"b-{i}") for i in range(1, 4)] + [(TEAM_B, USW, "no-entry")]
CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "platform", "namespace": "kube-system"},
    "data": {"mode": "strict", "owner": "platform-team"},
}
NETWORK_POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny-ingress", "namespace": "default"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
}
DIGEST = "sha256:" + "5e" * 32


def workload(kind: str, name: str, image: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": image}]}},
    }
    if kind != "DaemonSet":
        spec["replicas"] = 2
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "shop"}, "spec": spec}


@pytest.fixture
def clusters(aws: Any) -> Iterator[KubernetesServer]:
    """The 10 clusters in moto's EKS and in the local Kubernetes API, where DescribeCluster says they are."""
    sims = []
    for account, region, name in PLACES:
        eks = moto_client("eks", region, account)
        eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{account}:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1"]},
        )
        entries = {"999999999999"} if name == "no-entry" else {account}
        sims.append(SimCluster(name, account=account, region=region, access_entries=entries))
    # The double's clock is real epoch time that moves only when a test moves it (the tokens' age is checked).
    with KubernetesServer(sims, credentials=moto_credentials(), clock=ManualClock(time.time())) as server:
        server.seed(
            server.cluster("helm-owned"),
            {**CONFIG_MAP, "data": {"mode": "permissive"}},
            manager="helm",
        )
        for sim in sims:
            point_at(sim, server.endpoint(sim))
        yield server


def point_at(sim: SimCluster, endpoint: str) -> None:
    """What moto's DescribeCluster answers as the cluster's endpoint: the double's (moto has no call to set it)."""
    from moto.eks.models import eks_backends

    eks_backends[sim.account][sim.region].clusters[sim.name].endpoint = endpoint


def cluster_target(account: str, region: str, name: str) -> dict[str, Any]:
    return {"id": f"{account}/{region}/{name}", "account": account, "region": region, "cluster": name}


def run_all(
    aws: Any, run_id: str, operation: str, params: dict[str, Any], targets: list[dict[str, Any]], context: Any
) -> dict[str, Any]:
    """Each target's spoke, as the Map runs them: its status, or the error's name and message."""
    out: dict[str, Any] = {}
    aws.ledger.seed_pending(run_id, [Target.model_validate(t) for t in targets], 1)
    for target in targets:
        event = {"run": {"run_id": run_id, "operation": operation, "params": params}, "target": target}
        try:
            out[target["id"]] = spoke({**event, "retry_count": 0}, context)
        except Exception as err:
            out[target["id"]] = err
    return out


def test_apply_to_ten_clusters_then_rerun(clusters, aws, context):
    # A target's own endpoint is not where the token goes (DescribeCluster is): one points at a closed port
    targets = [cluster_target(*place) for place in PLACES]
    targets[0] = {**targets[0], "endpoint": "http://127.0.0.1:9/elsewhere"}
    params = {"manifests": [CONFIG_MAP, NETWORK_POLICY]}
    # WHEN a ConfigMap and a NetworkPolicy are applied to the 10 clusters
    first = run_all(aws, "apply-1", "k8s-apply", params, targets, context)
    # THEN 8 succeed; the cluster without an access entry fails on its credentials; Helm's field is a conflict
    succeeded = [tid for tid, r in first.items() if isinstance(r, dict) and r["status"] == "succeeded"]
    assert len(succeeded) == 8
    refused = first[f"{TEAM_B}/{USW}/no-entry"]
    assert isinstance(refused, CredentialsError)
    conflict = first[f"{TEAM_A}/{EU}/helm-owned"]
    assert isinstance(conflict, FieldConflictError)
    assert '.data.mode: conflict with "helm"' in str(conflict)
    # Nothing was written in the conflicting cluster (the dry run came first): Helm's value stays, no policy
    helm = clusters.cluster("helm-owned")
    assert clusters.get(helm, "v1", "ConfigMap", "kube-system", "platform")["data"] == {"mode": "permissive"}
    assert clusters.get(helm, "networking.k8s.io/v1", "NetworkPolicy", "default", "default-deny-ingress") is None
    # The ledger's detail lists both objects as created in a successful cluster
    row = aws.rows("apply-1")[f"{TEAM_A}/{EU}/a-1"]
    assert [(c["kind"], c["created"]) for c in row.detail["changed"]] == [("ConfigMap", True), ("NetworkPolicy", True)]
    a1 = clusters.cluster("a-1")
    managers = [
        m["manager"]
        for m in clusters.get(a1, "v1", "ConfigMap", "kube-system", "platform")["metadata"]["managedFields"]
    ]
    assert managers == ["hubspoke"]
    # WHEN the same apply runs again
    again = run_all(aws, "apply-2", "k8s-apply", params, [t for t in targets if t["id"] in succeeded], context)
    # THEN the 8 are unchanged
    assert [r["status"] for r in again.values()] == ["unchanged"] * 8


def test_dry_run_records_the_diff_and_writes_nothing(clusters, aws, context):
    target = cluster_target(TEAM_A, EU, "a-2")
    run_all(aws, "seed", "k8s-apply", {"manifests": [CONFIG_MAP]}, [target], context)
    changed = {**CONFIG_MAP, "data": {"mode": "audit", "owner": "platform-team"}}
    result = run_all(aws, "dry", "k8s-apply", {"manifests": [changed], "dry_run": True}, [target], context)[
        target["id"]
    ]
    assert result["status"] == "succeeded"
    detail = aws.rows("dry")[target["id"]].detail
    assert detail["dry_run"] is True
    assert detail["would_change"][0]["changes"] == [".data.mode: 'strict' -> 'audit'"]
    stored = clusters.get(clusters.cluster("a-2"), "v1", "ConfigMap", "kube-system", "platform")
    assert stored["data"]["mode"] == "strict"


def test_force_takes_the_field_from_the_other_manager(clusters, aws, context):
    target = cluster_target(TEAM_A, EU, "helm-owned")
    result = run_all(aws, "force", "k8s-apply", {"manifests": [CONFIG_MAP], "force": True}, [target], context)
    assert result[target["id"]]["status"] == "succeeded"
    stored = clusters.get(clusters.cluster("helm-owned"), "v1", "ConfigMap", "kube-system", "platform")
    assert stored["data"] == {"mode": "strict", "owner": "platform-team"}
    assert [m["manager"] for m in stored["metadata"]["managedFields"]] == ["hubspoke"]


def restart_targets(account: str, region: str, cluster: str) -> list[dict[str, Any]]:
    return [
        {
            **cluster_target(account, region, cluster),
            "id": f"{account}/{region}/{cluster}/shop/{kind}/{name}",
            "namespace": "shop",
            "kind": kind,
            "workload": name,
            "digest": DIGEST,
        }
        for kind, name in (("Deployment", "web"), ("StatefulSet", "db"), ("DaemonSet", "agent"))
    ]


@pytest.fixture
def shop(clusters: KubernetesServer) -> SimCluster:
    sim = clusters.cluster("b-1")
    for kind, name in (("Deployment", "web"), ("StatefulSet", "db"), ("DaemonSet", "agent")):
        clusters.seed(sim, workload(kind, name, f"123456789012.dkr.ecr.us-east-1.amazonaws.com/shop@{DIGEST}"))
    return sim


def test_rollout_restart_once_per_digest_and_workload(clusters, shop, aws, context):
    targets = restart_targets(TEAM_B, USW, "b-1")
    # WHEN a push's run restarts the 3 workloads
    first = run_all(aws, "push-1", "k8s-rollout-restart", {}, targets, context)
    # THEN each is restarted: the annotation is set and the generation moved from 1 to 2
    assert [r["status"] for r in first.values()] == ["succeeded"] * 3
    for kind, name in (("Deployment", "web"), ("StatefulSet", "db"), ("DaemonSet", "agent")):
        obj = clusters.get(shop, "apps/v1", kind, "shop", name)
        assert RESTARTED_AT in obj["spec"]["template"]["metadata"]["annotations"]
        assert obj["metadata"]["generation"] == 2
    # WHEN the same push is delivered again (another run)
    again = run_all(aws, "push-2", "k8s-rollout-restart", {}, targets, context)
    # THEN nothing is restarted again
    assert [r["status"] for r in again.values()] == ["unchanged"] * 3
    assert [
        clusters.get(shop, "apps/v1", t["kind"], "shop", t["workload"])["metadata"]["generation"] for t in targets
    ] == [2, 2, 2]
    patches = [r for r in clusters.requests if r.method == "PATCH"]
    assert len(patches) == 3
    assert {r.field_manager for r in patches} == {"hubspoke"}


def test_rollout_restart_waits_for_the_rollout(clusters, shop, aws, context, monkeypatch):
    # The double's rollouts complete 30 simulated seconds after the generation moves; the spoke polls every 5 s
    clock = clusters.clock
    assert isinstance(clock, ManualClock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr("spoke.operations.k8s_rollout_restart.clock.sleep", sleep)
    target = restart_targets(TEAM_B, USW, "b-1")[0]
    result = run_all(aws, "push-w", "k8s-rollout-restart", {"wait": True, "timeout_seconds": 120}, [target], context)
    assert result[target["id"]]["status"] == "succeeded"
    assert aws.rows("push-w")[target["id"]].detail["rollout"] == "complete"
    assert slept == [5] * 6


def test_too_many_requests_is_a_rate_limit_error_with_the_wait(clusters, aws, context):
    clusters.throttle("b-2", requests=1, retry_after_seconds=7)
    target = cluster_target(TEAM_B, USW, "b-2")
    result = run_all(aws, "limited", "k8s-apply", {"manifests": [CONFIG_MAP]}, [target], context)[target["id"]]
    assert isinstance(result, RateLimitError)
    assert str(result).startswith("retry after 7 s: ")
    assert result.retry_after == 7  # type: ignore[attr-defined]


def test_a_plain_conflict_on_a_write_is_retried_once_after_a_fresh_read(clusters, shop, aws, context):
    clusters.conflict_next("b-1", writes=1)
    target = restart_targets(TEAM_B, USW, "b-1")[0]
    result = run_all(aws, "conflict", "k8s-rollout-restart", {}, [target], context)[target["id"]]
    assert result["status"] == "succeeded"
    b1 = [(r.method, r.status) for r in clusters.requests if r.cluster == "b-1"]
    assert b1 == [("PATCH", 409), ("GET", 200), ("PATCH", 200)]


def test_one_token_per_cluster_within_its_lifetime(clusters, aws, context):
    targets = [cluster_target(TEAM_A, EU, "a-3")]
    run_all(aws, "t-1", "k8s-apply", {"manifests": [CONFIG_MAP]}, targets, context)
    run_all(aws, "t-2", "k8s-apply", {"manifests": [CONFIG_MAP]}, targets, context)
    # Two runs, 6 requests (get + dry run + get + apply, then get + dry run): one token signed
    assert eks_token.tokens().signed == 1
