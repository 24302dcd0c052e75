"""A local fleet for the image-push scenario: clusters, services and their container images, in moto ECS.

    {"clusters": [{"name": "prod", "services": [
        {"name": "web", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4"},
        {"name": "jobs", "containers": [{"name": "app", "image": "..."}, {"name": "log", "image": "..."}],
         "desired_count": 2, "status": "INACTIVE"}]}],
     "index": true}

`index: true` runs the indexer once before the event; otherwise the hub finds the index empty and scans live.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Container(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    image: str = Field(min_length=1)


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    image: str | None = None
    containers: list[Container] = Field(default_factory=list)
    desired_count: int = Field(default=1, ge=0)
    status: str = Field(default="ACTIVE", pattern=r"^(ACTIVE|INACTIVE)$")

    @model_validator(mode="after")
    def _one_way_to_say_images(self) -> Service:
        if bool(self.image) == bool(self.containers):
            raise ValueError("give either image or containers")
        if self.image:
            self.containers = [Container(name="app", image=self.image)]
        return self


class Cluster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    services: list[Service] = Field(default_factory=list)


class World(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clusters: list[Cluster]
    index: bool = True


def load_world(ecs: Any, world: World) -> int:
    """Create the clusters, task definitions and services in (moto) ECS; returns the number of services."""
    count = 0
    for cluster in world.clusters:
        ecs.create_cluster(clusterName=cluster.name)
        for service in cluster.services:
            task_def = ecs.register_task_definition(
                family=f"{cluster.name}-{service.name}",
                containerDefinitions=[{"name": c.name, "image": c.image, "memory": 128} for c in service.containers],
            )["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(
                cluster=cluster.name,
                serviceName=service.name,
                taskDefinition=task_def,
                desiredCount=service.desired_count,
            )
            if service.status == "INACTIVE":
                ecs.delete_service(cluster=cluster.name, service=service.name, force=True)
            count += 1
    return count
