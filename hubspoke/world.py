"""A local fleet for the image-push scenario: clusters, services and their container images, in moto ECS.

    {"clusters": [{"name": "prod", "services": [
        {"name": "web", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4"},
        {"name": "jobs", "containers": [{"name": "app", "image": "..."}, {"name": "log", "image": "..."}],
         "desired_count": 2, "status": "INACTIVE"}]}],
     "index": true}

`index: true` runs the indexer once before the event; otherwise the hub finds the index empty and scans live.

Clusters at the top level live in the engine's own account and region. Other accounts hold clusters per region,
and say whether HubSpoke's target role is deployed there (`target_role: false`: AssumeRole is refused) and which
functions it trusts (`trusts`, default all three: a role that trusts only the hub lets discovery list its clusters
while every spoke is refused):

    {"clusters": [], "accounts": [{"id": "210987654321", "regions": [{"name": "eu-west-1", "clusters": [
        {"name": "prod-a", "tags": {"tier": "prod"}, "task": {"exit_code": 3, "seconds": 40}}]}]}]}

`task` says how a one-off task (ecs-run-task) on that cluster ends: its essential containers' exit code after
`seconds` (simulated), or `starts: false` with the `reason` RunTask gives (capacity, placement).
"""

from __future__ import annotations

from typing import Any, Literal

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


Function = Literal["hub", "spoke", "indexer"]
FUNCTIONS: tuple[Function, ...] = ("hub", "spoke", "indexer")


class Task(BaseModel):
    """How a task started on the cluster ends."""

    model_config = ConfigDict(extra="forbid")
    starts: bool = True
    reason: str = Field(default="RESOURCE:MEMORY", min_length=1)  # RunTask's failure reason when it does not
    exit_code: int = Field(default=0, ge=0, le=255)
    seconds: float = Field(default=30.0, ge=0)


class Cluster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    services: list[Service] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    task: Task = Field(default_factory=Task)


class TaskDefinition(BaseModel):
    """A task definition a one-off task (ecs-run-task) names by family."""

    model_config = ConfigDict(extra="forbid")
    family: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    containers: list[Container] = Field(min_length=1)


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    clusters: list[Cluster] = Field(default_factory=list)
    task_definitions: list[TaskDefinition] = Field(default_factory=list)


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[0-9]{12}$")
    # False: the account has no HubSpoke target role, so assuming it is refused (AccessDenied).
    target_role: bool = True
    # Which of the deployment's functions the role trusts (an old or hand-edited role may leave one out).
    trusts: list[Function] = Field(default_factory=lambda: list(FUNCTIONS))
    regions: list[Region] = Field(default_factory=list)


class World(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clusters: list[Cluster] = Field(default_factory=list)
    task_definitions: list[TaskDefinition] = Field(default_factory=list)
    accounts: list[Account] = Field(default_factory=list)
    index: bool = True

    @model_validator(mode="after")
    def _accounts_once(self) -> World:
        ids = [a.id for a in self.accounts]
        if len(ids) != len(set(ids)):
            raise ValueError("accounts: an account id is listed twice")
        return self

    def places(self) -> list[tuple[str | None, str | None, Cluster]]:
        """Every cluster with its account and region (None, None: the engine's own)."""
        found: list[tuple[str | None, str | None, Cluster]] = [(None, None, c) for c in self.clusters]
        for account in self.accounts:
            for region in account.regions:
                found.extend((account.id, region.name, c) for c in region.clusters)
        return found


def load_into_engine(engine: Any, world: World) -> int:
    """The world into a LocalEngine's moto: clusters and services per account and region, the HubSpoke target role
    in each other account that has one (trusting the functions it names), and how each cluster's one-off tasks end.
    Returns the number of services."""
    services = load_world(engine.ecs, world)
    for account in world.accounts:
        if account.target_role:
            engine.deploy_target_role(account.id, trusts=account.trusts)
    for account_id, region, cluster in world.places():
        engine.expect_tasks(account_id, region, cluster.name, cluster.task)
    return services


def moto_client(service: str, region: str, account: str | None = None) -> Any:
    """A client of moto's acting in `account` (moto reads the account from a request header; None: its default)."""
    from collections.abc import Callable

    import boto3

    factory: Callable[..., Any] = boto3.client  # the service is a run-time name here
    client = factory(service, region_name=region)
    if account is not None:

        def name_the_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register(f"before-send.{client.meta.service_model.endpoint_prefix}.*", name_the_account)
    return client


def in_account(ecs: Any, account: str | None, region: str | None) -> Any:
    """An ECS client of moto's for another account and region (`ecs` itself for the engine's own)."""
    if account is None and region is None:
        return ecs
    return moto_client("ecs", region or ecs.meta.region_name, account)


def load_world(ecs: Any, world: World) -> int:
    """Create the clusters, task definitions and services in (moto) ECS, in their accounts and regions; returns
    the number of services."""
    count = 0
    for account, region, cluster in world.places():
        count += _load_cluster(in_account(ecs, account, region), cluster)
    definitions: list[tuple[str | None, str | None, TaskDefinition]] = [(None, None, d) for d in world.task_definitions]
    for other in world.accounts:
        for place in other.regions:
            definitions.extend((other.id, place.name, d) for d in place.task_definitions)
    for account_id, region_name, definition in definitions:
        in_account(ecs, account_id, region_name).register_task_definition(
            family=definition.family,
            containerDefinitions=[{"name": c.name, "image": c.image, "memory": 128} for c in definition.containers],
        )
    return count


def _load_cluster(ecs: Any, cluster: Cluster) -> int:
    tags = [{"key": k, "value": v} for k, v in cluster.tags.items()]
    ecs.create_cluster(clusterName=cluster.name, **({"tags": tags} if tags else {}))
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
    return len(cluster.services)
