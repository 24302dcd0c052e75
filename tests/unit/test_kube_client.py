"""shared.kube against the local Kubernetes API: what each answer becomes, the token's renewal, rollout status."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.github.clock import ManualClock
from devtools.kubernetes import KubernetesServer, SimCluster, moto_credentials
from shared.errors import CredentialsError, TargetError, TargetNotFoundError, TransientError
from shared.kube import KubeCluster, rollout_done
from spoke.operations import k8s_rollout_restart
from tests.envs import VARIABLES


def deployment(name: str, images: tuple[str, ...], init: tuple[str, ...] = ()) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init:
        pod["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}, "template": {"spec": pod}},
    }


@pytest.fixture
def world() -> Iterator[tuple[KubernetesServer, SimCluster, Any]]:
    with mock_aws():
        sts = boto3.client("sts", region_name="us-east-1")
        sim = SimCluster("prod-a")
        with KubernetesServer([sim], credentials=moto_credentials(), clock=ManualClock(time.time())) as server:
            yield server, sim, sts


def kube_for(world: tuple[KubernetesServer, SimCluster, Any], cluster_name: str = "prod-a") -> KubeCluster:
    from shared.eks_token import make_token

    server, sim, sts = world
    return KubeCluster(server.endpoint(sim), "", lambda: make_token(sts, cluster_name), name="prod-a")


def test_workloads_list_containers_and_init_containers(world):
    server, sim, _ = world
    server.seed(sim, deployment("web", ("r/web:1", "r/sidecar:2"), init=("r/migrate:1",)))
    (web,) = kube_for(world).list_workloads()
    assert (web.kind, web.namespace, web.name) == ("Deployment", "shop", "web")
    assert web.containers == ("r/web:1", "r/sidecar:2")
    assert web.init_containers == ("r/migrate:1",)


def test_a_missing_object_reads_as_none_and_a_restart_of_it_is_not_found(world):
    kube = kube_for(world)
    assert kube.get("apps/v1", "Deployment", "gone", "shop") is None
    with pytest.raises(TargetNotFoundError):
        kube.restart("Deployment", "shop", "gone", "2026-01-01T00:00:00Z")


def test_rbac_refusal_is_a_credentials_error(world):
    server, sim, _ = world
    server.seed(sim, deployment("web", ("r/web:1",)))
    sim.forbidden_verbs = {"patch"}
    with pytest.raises(CredentialsError, match=re.escape('403 Forbidden: deployments.apps "web" is forbidden')):
        kube_for(world).restart("Deployment", "shop", "web", "2026-01-01T00:00:00Z")


def test_server_errors_are_transient(world):
    server, _, _ = world
    server.fail_next("prod-a", 1)
    with pytest.raises(TransientError, match="503"):
        kube_for(world).get("v1", "ConfigMap", "x", "default")


def test_an_unknown_kind_is_a_target_error(world):
    with pytest.raises(TargetError, match="unknown kind"):
        kube_for(world).apply({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_a_refused_token_is_renewed_once_then_a_credentials_error(world):
    server, sim, sts = world
    from shared.eks_token import make_token

    # The first token is for another cluster (refused); renew() switches to a good one: the retry succeeds
    tokens = iter([make_token(sts, "prod-b"), make_token(sts, "prod-a")])
    current = [next(tokens)]
    renewed = []

    def renew() -> None:
        renewed.append(1)
        current[0] = next(tokens)

    kube = KubeCluster(server.endpoint(sim), "", lambda: current[0], name="prod-a", renew=renew)
    assert kube.get("v1", "ConfigMap", "x", "default") is None
    assert renewed == [1]
    # A token that stays bad: renewed once, then CredentialsError
    bad = KubeCluster(server.endpoint(sim), "", lambda: make_token(sts, "prod-b"), name="prod-a", renew=lambda: None)
    with pytest.raises(CredentialsError, match="401"):
        bad.get("v1", "ConfigMap", "x", "default")
    assert [r.status for r in server.requests[-2:]] == [401, 401]


@pytest.mark.parametrize(
    ("obj", "done"),
    [
        ({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 3}, "status": {}}, False),
        (
            {
                "kind": "Deployment",
                "metadata": {"generation": 2},
                "spec": {"replicas": 3},
                "status": {"observedGeneration": 1, "updatedReplicas": 3, "availableReplicas": 3, "replicas": 3},
            },
            False,
        ),
        (
            {
                "kind": "Deployment",
                "metadata": {"generation": 2},
                "spec": {"replicas": 3},
                "status": {"observedGeneration": 2, "updatedReplicas": 3, "availableReplicas": 3, "replicas": 4},
            },
            False,  # an old pod is still running
        ),
        (
            {
                "kind": "StatefulSet",
                "metadata": {"generation": 2},
                "spec": {"replicas": 3},
                "status": {"observedGeneration": 2, "updatedReplicas": 3, "availableReplicas": 3, "replicas": 3},
            },
            True,
        ),
        (
            {
                "kind": "DaemonSet",
                "metadata": {"generation": 5},
                "spec": {},
                "status": {
                    "observedGeneration": 5,
                    "desiredNumberScheduled": 4,
                    "updatedNumberScheduled": 4,
                    "numberAvailable": 3,
                },
            },
            False,
        ),
    ],
)
def test_rollout_done(obj, done):
    assert rollout_done(obj) is done


class Env:
    spoke_timeout_seconds = int(VARIABLES["SPOKE_TIMEOUT_SECONDS"])


def test_a_rollout_wait_must_fit_in_the_spoke_timeout():
    params = k8s_rollout_restart.Params(wait=True, timeout_seconds=271)
    assert k8s_rollout_restart.check(params, Env()) == [  # type: ignore[arg-type]
        "params.timeout_seconds: a rollout wait of 271 s does not fit in the Spoke task's timeout "
        "(spoke_timeout_seconds 300 s, of which 30 s for the restart itself): at most 270 s"
    ]
    assert k8s_rollout_restart.check(k8s_rollout_restart.Params(wait=True, timeout_seconds=270), Env()) == []  # type: ignore[arg-type]
    assert k8s_rollout_restart.check(k8s_rollout_restart.Params(wait=False, timeout_seconds=800), Env()) == []  # type: ignore[arg-type]
