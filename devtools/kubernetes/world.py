"""The world's EKS clusters served by the local Kubernetes API: what hubspoke.world.load_into_engine(...,
kubernetes=) calls for each cluster (the tests, and `hubspoke local event` in a checkout)."""

from __future__ import annotations

import base64
from typing import Any

from devtools.kubernetes.cluster import SimCluster
from devtools.kubernetes.server import KubernetesServer
from hubspoke.world import EksCluster, Workload

# What a cluster's DescribeCluster answers as its CA (the double speaks plain HTTP on loopback, so none is checked).
LOCAL_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nlocal\n-----END CERTIFICATE-----\n").decode()


def manifest(workload: Workload) -> dict[str, Any]:
    """A workload as it was deployed (apps/v1), labels and selector included."""
    labels = {"app": workload.name}
    pod: dict[str, Any] = {"containers": [{"name": c.name, "image": c.image} for c in workload.containers]}
    if workload.init_containers:
        pod["initContainers"] = [{"name": c.name, "image": c.image} for c in workload.init_containers]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if workload.kind != "DaemonSet":
        spec["replicas"] = workload.replicas
    if workload.kind == "StatefulSet":
        spec["serviceName"] = workload.name
    return {
        "apiVersion": "apps/v1",
        "kind": workload.kind,
        "metadata": {"name": workload.name, "namespace": workload.namespace, "labels": labels},
        "spec": spec,
    }


class WorldKubernetes:
    """Adds the world's clusters to a running KubernetesServer (hubspoke.world.KubernetesDouble)."""

    def __init__(self, server: KubernetesServer) -> None:
        self.server = server

    def add_cluster(self, account: str, region: str, cluster: EksCluster) -> tuple[str, str]:
        # No access entry: nobody's token is let in (EKS answers 401 to an authenticated principal it cannot map).
        sim = self.server.add(
            SimCluster(cluster.name, account, region, access_entries=None if cluster.access_entry else set())
        )
        for workload in cluster.workloads:
            self.server.seed(sim, manifest(workload))
        for obj in cluster.objects:  # what Helm or kubectl put there: a k8s-apply may conflict with its manager
            self.server.seed(sim, obj.manifest(), manager=obj.manager)
        return self.server.endpoint(sim), LOCAL_CA
