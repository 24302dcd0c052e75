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

EKS clusters sit beside the ECS ones (`eks_clusters`, at the top level or per region), each with its tags, its
Kubernetes version, whether HubSpoke's role has an access entry there (`access_entry: false`: the Kubernetes API
answers 401) and its workloads (Deployments, StatefulSets, DaemonSets with their containers and init containers):

    {"eks_clusters": [{"name": "prod-eks", "tags": {"tier": "prod"}, "workloads": [
        {"kind": "Deployment", "namespace": "shop", "name": "web", "image": "...", "replicas": 3},
        {"kind": "DaemonSet", "name": "agent", "containers": [{"name": "agent", "image": "..."}],
         "init_containers": [{"name": "setup", "image": "..."}]}]}]}

A cluster's `objects` are ConfigMaps and NetworkPolicies someone else deployed, each with the field manager that
owns its fields (`manager`, default kubectl's): what a k8s-apply meets there (a conflict when it sets one of
those fields to another value):

    {"eks_clusters": [{"name": "legacy", "objects": [{"manager": "helm", "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "platform", "namespace": "kube-system"}, "data": {"mode": "permissive"}}]}]}
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

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


# Kubernetes object names: a DNS-1123 label (namespaces, containers) or subdomain (workloads).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]


class KubeContainer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=DNS_LABEL)
    image: str = Field(min_length=1)


class Workload(BaseModel):
    """A Deployment, StatefulSet or DaemonSet: `image` is one container named app, or list `containers`."""

    model_config = ConfigDict(extra="forbid")
    kind: WorkloadKind
    namespace: str = Field(default="default", pattern=DNS_LABEL)
    name: str = Field(pattern=DNS_SUBDOMAIN)
    image: str | None = None
    containers: list[KubeContainer] = Field(default_factory=list)
    init_containers: list[KubeContainer] = Field(default_factory=list)
    replicas: int = Field(default=1, ge=0)  # a DaemonSet has none: one pod per node

    @model_validator(mode="after")
    def _one_way_to_say_images(self) -> Workload:
        if bool(self.image) == bool(self.containers):
            raise ValueError("give either image or containers")
        if self.image:
            self.containers = [KubeContainer(name="app", image=self.image)]
            self.image = None
        return self


# The kinds a world's object may be (the workloads have their own list), with their apiVersion.
OBJECT_API_VERSIONS = {"ConfigMap": "v1", "NetworkPolicy": "networking.k8s.io/v1"}


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=DNS_SUBDOMAIN)
    namespace: str = Field(default="default", pattern=DNS_LABEL)
    labels: dict[str, str] | None = None


class KubeObject(BaseModel):
    """A ConfigMap (`data`) or NetworkPolicy (`spec`) already in the cluster, its fields owned by `manager`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # Kubernetes: a field manager is at most 128 printable characters.
    manager: str = Field(default="kubectl-client-side-apply", pattern=r"^[\x20-\x7e]{1,128}$")
    api_version: str = Field(alias="apiVersion")
    kind: Literal["ConfigMap", "NetworkPolicy"]
    metadata: ObjectMeta
    data: dict[str, str] | None = None
    spec: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _as_the_kind_says(self) -> KubeObject:
        expected = OBJECT_API_VERSIONS[self.kind]
        if self.api_version != expected:
            raise ValueError(f"a {self.kind} has apiVersion {expected}, not {self.api_version}")
        if self.kind == "ConfigMap" and self.spec is not None:
            raise ValueError("a ConfigMap has data, not spec")
        if self.kind == "NetworkPolicy" and self.data is not None:
            raise ValueError("a NetworkPolicy has spec, not data")
        return self

    def manifest(self) -> dict[str, Any]:
        """The object as it was deployed (without its manager)."""
        return self.model_dump(by_alias=True, exclude={"manager"}, exclude_none=True)


class EksCluster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # EKS: 1-100 characters, a letter or digit first, then letters, digits, hyphens and underscores.
    name: str = Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
    tags: dict[str, str] = Field(default_factory=dict)
    # False: HubSpoke's role has no access entry in the cluster, so its Kubernetes API refuses the role's token.
    access_entry: bool = True
    version: str = Field(default="1.31", pattern=r"^1\.[0-9]{1,3}$")
    workloads: list[Workload] = Field(default_factory=list)
    objects: list[KubeObject] = Field(default_factory=list)

    @model_validator(mode="after")
    def _workloads_once(self) -> EksCluster:
        keys = [(w.kind, w.namespace, w.name) for w in self.workloads]
        if len(keys) != len(set(keys)):
            raise ValueError(f"cluster {self.name}: a workload (kind, namespace, name) is listed twice")
        objects = [(o.kind, o.metadata.namespace, o.metadata.name) for o in self.objects]
        if len(objects) != len(set(objects)):
            raise ValueError(f"cluster {self.name}: an object (kind, namespace, name) is listed twice")
        return self


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    clusters: list[Cluster] = Field(default_factory=list)
    task_definitions: list[TaskDefinition] = Field(default_factory=list)
    eks_clusters: list[EksCluster] = Field(default_factory=list)


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
    eks_clusters: list[EksCluster] = Field(default_factory=list)
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

    def eks_places(self) -> list[tuple[str | None, str | None, EksCluster]]:
        """Every EKS cluster with its account and region (None, None: the engine's own)."""
        found: list[tuple[str | None, str | None, EksCluster]] = [(None, None, c) for c in self.eks_clusters]
        for account in self.accounts:
            for region in account.regions:
                found.extend((account.id, region.name, c) for c in region.eks_clusters)
        return found


class KubernetesDouble(Protocol):
    """The local Kubernetes API server (devtools/kubernetes/): serves a cluster's workloads and says where."""

    def add_cluster(self, account: str, region: str, cluster: EksCluster) -> tuple[str, str]:
        """Serve `cluster` (refusing HubSpoke's token unless it has an access entry); returns its API endpoint
        URL and its certificate authority (base64 PEM, as DescribeCluster gives `certificateAuthority.data`)."""


def load_into_engine(engine: Any, world: World, kubernetes: KubernetesDouble | None = None) -> int:
    """The world into a LocalEngine's moto: clusters and services per account and region, the HubSpoke target role
    in each other account that has one (trusting the functions it names), how each cluster's one-off tasks end,
    and the EKS clusters (served by `kubernetes`, when given). Returns the number of services."""
    services = load_world(engine.ecs, world)
    load_eks(engine.ecs.meta.region_name, world, kubernetes)
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


# A cluster's IAM role as CreateCluster requires one (moto checks its form only); the world's clusters need no other.
_EKS_CLUSTER_ROLE = "arn:aws:iam::{account}:role/hubspoke-world-eks-cluster"
# moto's own account, which a client without x-moto-account-id acts in (the engine's account).
_MOTO_ACCOUNT = "123456789012"


def load_eks(own_region: str, world: World, kubernetes: KubernetesDouble | None = None) -> int:
    """Create the EKS clusters in (moto) EKS, in their accounts and regions, with their tags and versions; with a
    Kubernetes double, each cluster's endpoint and certificate authority become the ones the double serves it at
    (moto makes up an unreachable https://<random>.eks.amazonaws.com/). Returns the number of workloads."""
    count = 0
    for account, region, cluster in world.eks_places():
        add_eks_cluster(account or _MOTO_ACCOUNT, region or own_region, cluster, kubernetes)
        count += len(cluster.workloads)
    return count


def add_eks_cluster(account: str, region: str, cluster: EksCluster, kubernetes: KubernetesDouble | None = None) -> None:
    """One EKS cluster into moto (and the double): also how a test adds a cluster to a running world."""
    eks = moto_client("eks", region, account)
    eks.create_cluster(
        name=cluster.name,
        version=cluster.version,
        roleArn=_EKS_CLUSTER_ROLE.format(account=account),
        resourcesVpcConfig={"subnetIds": [], "endpointPublicAccess": True},
        **({"tags": cluster.tags} if cluster.tags else {}),
    )
    if kubernetes is not None:
        endpoint, authority = kubernetes.add_cluster(account, region, cluster)
        _point_cluster_at(account, region, cluster.name, endpoint, authority)


def _point_cluster_at(account: str, region: str, name: str, endpoint: str, authority: str) -> None:
    """Set what DescribeCluster answers as the cluster's endpoint and CA: moto's EKS has no call that changes them,
    so its in-process backend is written directly (the engine runs moto in this process)."""
    from moto.eks.models import eks_backends

    described = eks_backends[account][region].clusters[name]
    described.endpoint = endpoint
    described.certificate_authority = {"data": authority}
