"""One Kubernetes cluster, through lightkube: what the k8s operations and the image index call.

Why lightkube (docs/kubernetes.md): a cold import of 105 ms and 7.5 MiB installed, against 1,070 ms and
94.9 MiB for the official `kubernetes` package, at best of three sittings (benchmarks/bench_kube_client.py).
Only the k8s operations and the image index import this module, so other runs never load the client
(shared.operations is lazy).

Signatures (the image index and the operations use only these):

    KubeCluster(endpoint: str, ca_data: str, token: Callable[[], str], *, name: str = "",
                renew: Callable[[], None] | None = None, timeout_seconds: float = 10.0)
        endpoint/ca_data as DescribeCluster gives them (cluster.endpoint, cluster.certificateAuthority.data:
        base64 PEM); token() returns a bearer token (shared.eks_token), renew() drops it after a 401 so the one
        retry signs a new one.
    .list_workloads() -> list[Workload]       Deployments, StatefulSets, DaemonSets of all namespaces
    .get(api_version, kind, name, namespace=None) -> dict | None      None: 404
    .restart(kind, namespace, name, restarted_at: str) -> dict        kubectl rollout restart's patch
    .apply(manifest: dict, *, dry_run=False, force=False, field_manager="hubspoke") -> Applied
    for_eks(target: TargetAws, account, region, cluster, endpoint="", ca_data="") -> KubeCluster
        DescribeCluster through the target's clients when endpoint/CA are not given (the operations never give
        them: a target's own endpoint field is not trusted with a token); token from eks_token.
    rollout_done(obj: dict) -> bool            observedGeneration >= generation and all replicas updated/available

    Workload: kind, namespace, name, containers (images), init_containers (images), generation, raw (dict).
    Applied: kind, namespace, name, created, changes (list of "path: old -> new"), resource_version, dry_run.

Errors (shared.errors): 401/403 -> CredentialsError (never retried); 429 -> RateLimitError "retry after N s: ..."
(`retry_after` attribute, from Retry-After); a 409 on a write -> one retry after a fresh read, then
TransientError; a server-side-apply conflict (409 with FieldManagerConflict causes) -> FieldConflictError naming
each field and its manager; 404 -> TargetNotFoundError; other 4xx -> TargetError; 5xx and connection errors ->
TransientError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
from lightkube import ApiError, Client
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.generic_client import ALL_NS
from lightkube.core.resource_registry import resource_registry
from lightkube.types import PatchType

from shared.errors import (
    CredentialsError,
    FieldConflictError,
    RateLimitError,
    TargetError,
    TargetNotFoundError,
    TransientError,
)

FIELD_MANAGER = "hubspoke"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Workload:
    """A workload and the images its pod template runs."""

    kind: str
    namespace: str
    name: str
    containers: tuple[str, ...]
    init_containers: tuple[str, ...]
    generation: int
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Applied:
    """What one server-side apply did (or, dry run, would do)."""

    kind: str
    namespace: str
    name: str
    created: bool
    changes: tuple[str, ...]
    resource_version: str
    dry_run: bool

    @property
    def changed(self) -> bool:
        return self.created or bool(self.changes)


def rollout_done(obj: dict[str, Any]) -> bool:
    """The rollout of a Deployment, StatefulSet or DaemonSet is complete (kubectl rollout status's test)."""
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {}) or {}
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return False
    if obj.get("kind") == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled", 0))
        return (
            int(status.get("updatedNumberScheduled", 0)) >= desired and int(status.get("numberAvailable", 0)) >= desired
        )
    replicas = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    # A Deployment with old pods still running reports more replicas than updated ones.
    return updated >= replicas and available >= replicas and int(status.get("replicas", replicas)) <= updated


def _images(containers: list[dict[str, Any]] | None) -> tuple[str, ...]:
    return tuple(str(c.get("image", "")) for c in containers or [])


def _leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            yield from _leaves(value, f"{path}.{key}")
    else:
        yield path, obj


def _at(obj: Any, path: str) -> Any:
    for key in path.strip(".").split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _changes(manifest: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any]) -> tuple[str, ...]:
    """The manifest's fields whose live value the apply changed (as 'path: old -> new')."""
    ignored = {".apiVersion", ".kind", ".metadata.name", ".metadata.namespace"}
    out = []
    for path, _ in _leaves(manifest):
        if path in ignored:
            continue
        old, new = _at(before or {}, path), _at(after, path)
        if old != new:
            out.append(f"{path}: {old!r} -> {new!r}")
    return tuple(out)


def _lister(res: Any) -> Callable[[Any], list[dict[str, Any]]]:
    return lambda api: [o.to_dict() for o in api.list(res, namespace=ALL_NS)]


def _status(err: ApiError) -> dict[str, Any]:
    try:
        body = err.response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(err: ApiError) -> int:
    raw = err.response.headers.get("retry-after", "")
    try:
        return max(1, int(float(raw)))
    except ValueError:
        return 1


class KubeCluster:
    """The API of one cluster, for one bearer token source."""

    def __init__(
        self,
        endpoint: str,
        ca_data: str,
        token: Callable[[], str],
        *,
        name: str = "",
        renew: Callable[[], None] | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.name = name or endpoint
        self._ca = ca_data
        self._token = token
        self._renew = renew
        self._timeout = timeout_seconds
        self._client: Client | None = None
        self._client_token = ""

    def _api(self) -> Any:
        # Any: lightkube's overloads need the resource class statically; ours come from manifests at run time.
        token = self._token()
        if self._client is None or token != self._client_token:
            # The CA matters only over TLS; a loopback double speaks plain HTTP.
            ca = self._ca if self.endpoint.startswith("https://") and self._ca else None
            config = KubeConfig.from_one(
                cluster=Cluster(server=self.endpoint, certificate_auth_data=ca), user=User(token=token)
            )
            self._client = Client(
                config=config, namespace="default", trust_env=False, timeout=httpx2.Timeout(self._timeout)
            )
            self._client_token = token
        return self._client

    def _call(
        self, what: str, call: Callable[[Any], _T], *, write: bool = False, reread: Callable[[], Any] | None = None
    ) -> _T:
        """`call` with the errors mapped; a 401 renews the token once, a plain 409 on a write rereads once."""
        renewed = retried = False
        while True:
            try:
                return call(self._api())
            except ApiError as err:
                code = err.response.status_code
                if code == 401 and self._renew is not None and not renewed:
                    renewed = True
                    self._renew()
                    continue
                status = _status(err)
                causes = (status.get("details") or {}).get("causes") or []
                conflicts = [c for c in causes if c.get("reason") == "FieldManagerConflict"]
                if code == 409 and conflicts:
                    raise FieldConflictError(
                        f"{what} in {self.name}: "
                        + "; ".join(f"{c.get('field', '?')}: {c.get('message', '')}" for c in conflicts)
                        + " (another field manager owns these fields; apply with force to take them)"
                    ) from None
                if code == 409 and write and not retried:
                    retried = True
                    if reread is not None:
                        reread()
                    continue
                raise self._error(what, code, status, err) from None
            except httpx2.HTTPError as err:
                raise TransientError(f"{what} in {self.name}: {type(err).__name__}: {err}") from None
            except ValueError as err:  # lightkube could not decode the answer into its model (msgspec)
                raise TargetError(f"{what} in {self.name}: the API's answer does not decode: {err}") from None

    def _error(self, what: str, code: int, status: dict[str, Any], err: ApiError) -> Exception:
        message = f"{what} in {self.name}: {code} {status.get('reason', '')}: {status.get('message', '')}"
        if code in (401, 403):
            hint = (
                "the cluster refused the token (no access entry for the account's HubSpoke role?)"
                if code == 401
                else "the cluster's RBAC refuses this (README: Kubernetes (EKS))"
            )
            return CredentialsError(f"{message} - {hint}")
        if code == 429:
            wait = _retry_after(err)
            limited = RateLimitError(f"retry after {wait} s: {message}")
            limited.retry_after = wait  # type: ignore[attr-defined]
            return limited
        if code == 404:
            return TargetNotFoundError(message)
        if code == 409 or code >= 500:
            return TransientError(message)
        return TargetError(message)

    def list_workloads(self) -> list[Workload]:
        """Every Deployment, StatefulSet and DaemonSet in every namespace, with its containers' images."""
        out: list[Workload] = []
        for kind in WORKLOAD_KINDS:
            res: Any = resource_registry.load("apps/v1", kind)
            items = self._call(f"listing {kind}s", _lister(res))
            for obj in items:
                pod = obj.get("spec", {}).get("template", {}).get("spec", {})
                meta = obj.get("metadata", {})
                out.append(
                    Workload(
                        kind=kind,
                        namespace=str(meta.get("namespace", "default")),
                        name=str(meta.get("name", "")),
                        containers=_images(pod.get("containers")),
                        init_containers=_images(pod.get("initContainers")),
                        generation=int(meta.get("generation", 0)),
                        raw={**obj, "kind": kind},
                    )
                )
        return out

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        res: Any = resource_registry.load(api_version, kind)
        try:
            obj = self._call(f"reading {kind} {name}", lambda api: api.get(res, name, namespace=namespace))
        except TargetNotFoundError:
            return None
        return {**obj.to_dict(), "apiVersion": api_version, "kind": kind}

    def restart(self, kind: str, namespace: str, name: str, restarted_at: str) -> dict[str, Any]:
        """What `kubectl rollout restart` does: a new pod-template annotation, so every pod is replaced."""
        if kind not in WORKLOAD_KINDS:
            raise TargetError(f"cannot restart a {kind}: only {', '.join(WORKLOAD_KINDS)}")
        res: Any = resource_registry.load("apps/v1", kind)
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}}
        obj = self._call(
            f"restarting {kind} {namespace}/{name}",
            lambda api: api.patch(
                res, name, patch, namespace=namespace, patch_type=PatchType.STRATEGIC, field_manager=FIELD_MANAGER
            ),
            write=True,
            reread=lambda: self.get("apps/v1", kind, name, namespace),
        )
        return {**obj.to_dict(), "kind": kind}

    def apply(
        self,
        manifest: dict[str, Any],
        *,
        dry_run: bool = False,
        force: bool = False,
        field_manager: str = FIELD_MANAGER,
    ) -> Applied:
        """Server-side apply of one manifest; the changes are those of the manifest's own fields."""
        api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
        meta = manifest.get("metadata") or {}
        name = str(meta.get("name", ""))
        if not api_version or not kind or not name:
            raise TargetError("a manifest needs apiVersion, kind and metadata.name")
        try:
            res: Any = resource_registry.load(api_version, kind)
        except Exception:  # lightkube says LoadResourceError or AttributeError for an unknown kind
            raise TargetError(f"unknown kind {api_version}/{kind}") from None
        namespaced = "Namespaced" in "".join(base.__name__ for base in res.__mro__)
        namespace = str(meta.get("namespace") or "default") if namespaced else None
        where = f"{kind} {namespace + '/' if namespace else ''}{name}"
        before = self.get(api_version, kind, name, namespace)
        kwargs: dict[str, Any] = {"patch_type": PatchType.APPLY, "field_manager": field_manager, "force": force}
        kwargs["dry_run"] = dry_run
        if namespace is not None:
            kwargs["namespace"] = namespace
        obj = self._call(
            f"applying {where}",
            lambda api: api.patch(res, name, manifest, **kwargs),
            write=True,
            reread=lambda: self.get(api_version, kind, name, namespace),
        )
        after = obj.to_dict()
        return Applied(
            kind=kind,
            namespace=namespace or "",
            name=name,
            created=before is None,
            changes=_changes(manifest, before, after),
            resource_version=str(after.get("metadata", {}).get("resourceVersion", "")),
            dry_run=dry_run,
        )


def for_eks(target: Any, account: str, region: str, cluster: str, endpoint: str = "", ca_data: str = "") -> KubeCluster:
    """The cluster of an EKS target, reached with a token signed under the target account's role (`target`:
    shared.credentials.TargetAws). DescribeCluster gives the endpoint and CA when the target does not."""
    from botocore.exceptions import ClientError

    from shared import eks_token
    from shared.errors import aws_call_error

    if not endpoint:
        try:
            described = target.client("eks").describe_cluster(name=cluster)["cluster"]
        except ClientError as err:
            raise aws_call_error(
                err,
                f"describing EKS cluster {cluster}",
                "EKS",
                {
                    "ResourceNotFoundException": "the cluster no longer exists",
                    "AccessDeniedException": "HubSpoke's role may not describe this cluster (eks:DescribeCluster)",
                },
            ) from None
        endpoint = str(described.get("endpoint", ""))
        ca_data = str((described.get("certificateAuthority") or {}).get("data", ""))
        if not endpoint:
            raise TargetError(f"EKS cluster {cluster} has no endpoint yet (status {described.get('status')})")
    cache = eks_token.tokens()
    return KubeCluster(
        endpoint,
        ca_data,
        lambda: cache.token(account, region, cluster, lambda: target.client("sts")),
        name=f"{account}/{region}/{cluster}",
        renew=lambda: cache.forget(account, region, cluster),
    )
