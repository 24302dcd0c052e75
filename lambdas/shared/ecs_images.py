"""Which ECS services (and Kubernetes workloads of EKS clusters, shared.kube_images) run which container images: a
paginated scan of the clusters, and the image index (the seed's "ConfigMap cache") the hub reads instead of scanning
on every push."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.dynamo import batch_put, from_item, query_items, to_item
from shared.errors import HubSpokeError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

META_REPOSITORY = "#meta"  # the index's bookkeeping row: when the last full scan started
META_KEY = "#last-scan"
_DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services
# registry/repository[:tag][@digest]; the registry part has a dot or a port, as Docker resolves it.
_IMAGE = re.compile(
    r"^(?:(?P<registry>[^/]+[.:][^/]*)/)?(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>.+))?$"
)


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        match = _IMAGE.match(image)
        if match is None:
            return cls(None, image, None, None)
        tag = match["tag"] or (None if match["digest"] else "latest")
        return cls(match["registry"], match["repository"], tag, match["digest"])


@dataclass(frozen=True)
class ServiceImages:
    cluster: str  # cluster ARN
    service_arn: str
    service: str  # service name
    status: str
    task_definition: str
    images: list[str] = field(default_factory=list)
    # The service's account and region when it is another account's (None: this function's own).
    account: str | None = None
    region: str | None = None
    # A Kubernetes workload of an EKS cluster (`cluster` is the EKS cluster's ARN, `service` the workload's name,
    # `service_arn` a key of the index): its kind (Deployment, StatefulSet, DaemonSet) and namespace. None: ECS.
    kind: str | None = None
    namespace: str | None = None

    @property
    def is_workload(self) -> bool:
        return self.kind is not None


@dataclass(frozen=True)
class Place:
    """An account and region the image index covers; (None, None) is this function's own."""

    account: str | None = None
    region: str | None = None

    def __str__(self) -> str:
        return "this account" if self.account is None else f"{self.account}/{self.region}"


def places(accounts: Iterable[str], regions: Iterable[str], own_region: str) -> list[Place]:
    """This account in its own region (as before any account was listed), then every listed account x region
    (no region listed: the function's own)."""
    in_regions = list(regions) or [own_region]
    return [Place(), *(Place(account, region) for account in accounts for region in in_regions)]


@dataclass
class FleetScan:
    """The services of every place: another account's place that cannot be reached (no role, AssumeRole or ECS
    refused, no such region) is recorded in `unreachable` and skipped, so one account never hides the rest.
    This account's own errors still raise, as they did before other accounts were scanned."""

    places: list[Place]
    clusters: tuple[str, ...]
    own_ecs: Any
    # The ECS client in another account and region (shared.credentials.in_account(...).client("ecs")).
    ecs_in: Callable[[str, str], Any]
    unreachable: dict[str, str] = field(default_factory=dict)  # place -> why, error names and codes only
    # The Kubernetes workloads of another account x region's EKS clusters (shared.kube_images.EksScan), which
    # records a cluster it cannot read in `unreachable` itself; None: ECS only.
    workloads_in: Callable[[str, str, dict[str, str]], Iterable[ServiceImages]] | None = None
    # False: the Kubernetes workloads only (a live scan for a Kubernetes push, which has no use for ECS services).
    ecs: bool = True

    def services(self) -> Iterator[ServiceImages]:
        seen: set[str] = set()
        for place in self.places:
            if place.account is None or place.region is None:
                found = list(scan(self.own_ecs, self.clusters)) if self.ecs else []
            else:
                try:
                    # The whole place before any of it is yielded: a place is in the index entirely or not at all.
                    found = [
                        replace(svc, account=place.account, region=place.region)
                        for svc in (scan(self.ecs_in(place.account, place.region), self.clusters) if self.ecs else [])
                    ]
                    if self.workloads_in is not None:
                        found.extend(self.workloads_in(place.account, place.region, self.unreachable))
                except (HubSpokeError, ClientError, BotoCoreError) as err:
                    self.unreachable[str(place)] = _why(err)
                    continue
            for svc in found:
                # A service ARN names its account and region: one listed twice (this account among
                # image_push.accounts) is indexed once, as this account's.
                if svc.service_arn not in seen:
                    seen.add(svc.service_arn)
                    yield svc


def eks_scan(
    patterns: tuple[str, ...], cross: Any, run_id: str, purpose: str
) -> Callable[[str, str, dict[str, str]], Iterable[ServiceImages]] | None:
    """The Kubernetes half of a fleet scan (shared.kube_images.EksScan) when image_push.eks_clusters names any
    cluster, under the target role of each place (`cross`: shared.credentials.CrossAccount); None: ECS only."""
    if not patterns:
        return None
    from shared import credentials
    from shared.kube_images import EksScan

    return EksScan(patterns, lambda account, region: credentials.in_account(account, region, run_id, purpose, cross))


def _why(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}"
    return f"{type(err).__name__}: {err}"


# An ECR registry host: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] (China regions use .com.cn).
_ECR_HOST = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class Push:
    """What was pushed: repository, tag, digest, and the registry (account) and region."""

    repository: str
    tag: str | None
    digest: str | None
    registry: str | None = None
    region: str | None = None

    def matches(self, image: str) -> bool:
        """The image is this repository in the pushed registry, at the pushed tag or digest.

        When the push names an account or region, only that ECR registry (or its FIPS host) matches: an image
        without a registry host is Docker Hub's (`team-payments:2.7` is `docker.io/library/team-payments`).
        An image pinned by digest (`repo:tag@sha256:X`) runs X whatever its tag says, so it matches by digest.
        """
        ref = ImageRef.parse(image)
        if ref.repository != self.repository or not self._registry_matches(ref.registry):
            return False
        if ref.digest is not None:
            return self.digest is not None and ref.digest == self.digest
        return self.tag is not None and ref.tag == self.tag

    def _registry_matches(self, host: str | None) -> bool:
        if not (self.registry or self.region):
            return True  # a hand-written request that names no registry: the repository name decides
        ecr = _ECR_HOST.match(host or "")
        if ecr is None:
            return False
        return (not self.registry or ecr["account"] == self.registry) and (
            not self.region or ecr["region"] == self.region
        )


def _pages(ecs: Any, operation: str, key: str, **kwargs: Any) -> Iterator[str]:
    paginator = ecs.get_paginator(operation)
    for page in paginator.paginate(**kwargs):
        yield from page.get(key, [])


def scan(ecs: Any, clusters: Iterable[str] = ()) -> Iterator[ServiceImages]:
    """Every service of the given clusters (all clusters when none) with its containers' images.

    One ListServices call per 100 services, one DescribeServices per 10, one DescribeTaskDefinition per
    distinct task definition: never one call per service where a batch call exists.
    """
    task_images: dict[str, list[str]] = {}
    for cluster in list(clusters) or list(_pages(ecs, "list_clusters", "clusterArns")):
        arns = list(_pages(ecs, "list_services", "serviceArns", cluster=cluster, PaginationConfig={"PageSize": 100}))
        for start in range(0, len(arns), _DESCRIBE_BATCH):
            described = ecs.describe_services(cluster=cluster, services=arns[start : start + _DESCRIBE_BATCH])
            for service in described.get("services", []):
                task_def = service["taskDefinition"]
                if task_def not in task_images:
                    definition = ecs.describe_task_definition(taskDefinition=task_def)["taskDefinition"]
                    task_images[task_def] = [c["image"] for c in definition.get("containerDefinitions", [])]
                yield ServiceImages(
                    cluster=service["clusterArn"],
                    service_arn=service["serviceArn"],
                    service=service["serviceName"],
                    status=service["status"],
                    task_definition=task_def,
                    images=task_images[task_def],
                )


class ImageIndex:
    """DynamoDB rows (repository, service_arn) for every container image of every scanned service."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def rebuild(
        self, services: Iterable[ServiceImages], ttl_seconds: int, unreachable: dict[str, str] | None = None
    ) -> int:
        """Write one row per (repository, service) and the scan time; rows of an older scan expire.

        `unreachable` (filled while `services` is consumed) goes into the scan-time row: the places the scan
        could not reach, whose services this index lacks.
        """
        started = int(time.time())

        def items() -> Iterator[dict[str, Any]]:
            for svc in services:
                where: dict[str, Any] = {} if svc.account is None else {"account": svc.account, "region": svc.region}
                if svc.kind is not None:
                    where |= {"kind": svc.kind, "namespace": svc.namespace}
                for repository in {ImageRef.parse(image).repository for image in svc.images}:
                    yield {
                        "repository": repository,
                        "service_arn": svc.service_arn,
                        "cluster": svc.cluster,
                        "service": svc.service,
                        "status": svc.status,
                        "images": list(svc.images),
                        "scanned_at": started,
                        "expires_at": started + ttl_seconds,
                        **where,
                    }
            # Last: the scan time says the rows above are complete, but for the places it names unreachable.
            meta: dict[str, Any] = {"repository": META_REPOSITORY, "service_arn": META_KEY, "scanned_at": started}
            if unreachable:
                meta["unreachable"] = dict(unreachable)
            yield meta

        return batch_put(self._db, self._table, items()) - 1  # the rows, not the scan-time row

    def last_scan(self) -> int | None:
        meta = self.meta()
        return None if meta is None else int(meta["scanned_at"])

    def meta(self) -> dict[str, Any] | None:
        """The last scan's row: `scanned_at`, and `unreachable` (place -> why) when it missed any."""
        item = self._db.get_item(
            TableName=self._table,
            Key=to_item({"repository": META_REPOSITORY, "service_arn": META_KEY}),
            ConsistentRead=True,
        ).get("Item")
        return from_item(item) if item else None

    def services(self, repository: str, page_size: int | None = None) -> Iterator[ServiceImages]:
        """The services of the last scan whose images use `repository`."""
        last = self.last_scan() or 0
        pages = query_items(
            self._db,
            page_size,
            TableName=self._table,
            KeyConditionExpression="repository = :r",
            ExpressionAttributeValues=to_item({":r": repository}),
            ConsistentRead=True,
        )
        for page in pages:
            for row in page:
                if int(row["scanned_at"]) < last:
                    continue  # a service gone since the last scan
                yield ServiceImages(
                    cluster=row["cluster"],
                    service_arn=row["service_arn"],
                    service=row["service"],
                    status=row["status"],
                    task_definition="",
                    images=list(row["images"]),
                    account=row.get("account"),
                    region=row.get("region"),
                    kind=row.get("kind"),
                    namespace=row.get("namespace"),
                )
