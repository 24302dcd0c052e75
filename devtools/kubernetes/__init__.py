"""A local Kubernetes-API-compatible server for EKS clusters (a test double; standard library only, loopback).

It serves only what HubSpoke's Kubernetes client calls (docs/kubernetes.md): workloads, ConfigMaps and
NetworkPolicies, server-side apply with field managers and conflicts, dry run, EKS bearer tokens, 429s.
Not shipped in the product wheel.
"""

from devtools.kubernetes.auth import moto_credentials
from devtools.kubernetes.cluster import SimCluster
from devtools.kubernetes.server import KubernetesServer, Recorded

__all__ = ["KubernetesServer", "Recorded", "SimCluster", "moto_credentials"]
