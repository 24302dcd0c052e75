"""Which Kubernetes workloads of EKS clusters run which container images: the image index's Kubernetes half.

In each account x region of image_push.accounts x regions, the EKS clusters whose names match
image_push.eks_clusters (shell-style patterns) are listed under HubSpoke's target role there (eks:ListClusters),
and each cluster's Deployments, StatefulSets and DaemonSets of every namespace are read through its Kubernetes API
(shared.kube, a token signed under the same role: the role needs an access entry in the cluster). Every container
counts, init containers included. A cluster whose API refuses the role (no access entry: 401) or cannot be
reached is named in the scan's `unreachable` and skipped; the other clusters of the place are still indexed.

Imported only where eks_clusters is set, so an ECS-only index never loads the Kubernetes client.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.ecs_images import ServiceImages
from shared.errors import HubSpokeError

LIST_PAGE = 100  # EKS ListClusters' largest page


def workload_key(cluster_arn: str, kind: str, namespace: str, name: str) -> str:
    """The index's key of one workload (its `service_arn` column): unique across clusters, accounts and regions."""
    return f"{cluster_arn}/{kind}/{namespace}/{name}"


@dataclass(frozen=True)
class EksScan:
    """The workloads of one place's matching EKS clusters, as the image index's rows (ServiceImages)."""

    patterns: tuple[str, ...]
    # Clients under the place's target role: shared.credentials.in_account(account, region, ...).
    target_in: Callable[[str, str], Any]

    def __call__(self, account: str, region: str, unreachable: dict[str, str]) -> Iterator[ServiceImages]:
        """Every workload of the place's matching clusters; a cluster that cannot be read goes into `unreachable`
        (`<account>/<region>/<cluster>` -> why). A refused ListClusters raises: the whole place is unreachable."""
        from shared import kube

        target = self.target_in(account, region)
        names: list[str] = []
        for page in (
            target.client("eks").get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": LIST_PAGE})
        ):
            names.extend(page.get("clusters", []))
        for name in sorted(names):
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns):
                continue
            arn = f"arn:aws:eks:{region}:{account}:cluster/{name}"
            try:
                # The whole cluster before any of it is yielded: a cluster is in the index entirely or not at all.
                workloads = kube.for_eks(target, account, region, name).list_workloads()
            except (HubSpokeError, ClientError, BotoCoreError) as err:
                unreachable[f"{account}/{region}/{name}"] = _why(err)
                continue
            for workload in workloads:
                yield ServiceImages(
                    cluster=arn,
                    service_arn=workload_key(arn, workload.kind, workload.namespace, workload.name),
                    service=workload.name,
                    status="ACTIVE",
                    task_definition="",
                    images=[*workload.containers, *workload.init_containers],
                    account=account,
                    region=region,
                    kind=workload.kind,
                    namespace=workload.namespace,
                )


def _why(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}"
    return f"{type(err).__name__}: {err}"
