"""The discovery source registry: each source's module (under hub/sources/) registered by the `type` a run
request names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from hub.sources import ecs_clusters, eks_clusters, github_org, image_users, run, s3_manifest, static

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_s3 import S3Client

    from shared.config import HubEnv


@dataclass(frozen=True)
class SourceContext:
    """What a source may use; passed in so tests can give moto clients.

    `notes` is where a source says how it discovered (the run summary shows them). `run_id` names the run to
    sources that act in other accounts (the AssumeRole session name, the per-run credential cache).
    """

    s3: S3Client
    env: HubEnv | None = None
    clients: Callable[[str], Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""

    @property
    def ecs(self) -> ECSClient:
        assert self.clients is not None
        client: ECSClient = self.clients("ecs")
        return client

    @property
    def dynamodb(self) -> DynamoDBClient:
        assert self.clients is not None
        client: DynamoDBClient = self.clients("dynamodb")
        return client

    @property
    def deployment(self) -> HubEnv:
        """The hub's environment (sources that read the deployment's settings)."""
        assert self.env is not None
        return self.env


@dataclass(frozen=True)
class Source:
    name: str
    spec: type[BaseModel]
    # Returns raw target objects; the hub validates them as Target and checks ids are unique.
    discover: Callable[[Any, SourceContext], list[Any]]
    # Where the raw targets came from, for error messages ("source.targets", "s3://b/k").
    origin: Callable[[Any], str]


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(static.NAME, static.Spec, static.discover, static.origin),
        Source(s3_manifest.NAME, s3_manifest.Spec, s3_manifest.discover, s3_manifest.origin),
        Source(image_users.NAME, image_users.Spec, image_users.discover, image_users.origin),
        Source(github_org.NAME, github_org.Spec, github_org.discover, github_org.origin),
        Source(run.NAME, run.Spec, run.discover, run.origin),
        Source(ecs_clusters.NAME, ecs_clusters.Spec, ecs_clusters.discover, ecs_clusters.origin),
        Source(eks_clusters.NAME, eks_clusters.Spec, eks_clusters.discover, eks_clusters.origin),
    )
}
