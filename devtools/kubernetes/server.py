"""KubernetesServer: the world's EKS clusters' API servers, one HTTP server on 127.0.0.1, a path prefix each.

    with KubernetesServer([SimCluster("prod-a", account="111111111111")], credentials=moto_credentials()) as k:
        endpoint = k.endpoint(cluster)          # what DescribeCluster answers: http://127.0.0.1:PORT/clusters/<account>/<region>/<name>
        k.template                              # the same with {account}/{region}/{cluster}

Routes (only what the product calls), under a cluster's prefix: GET a list of apps/v1 deployments, statefulsets,
daemonsets across namespaces or in one; GET one; PATCH one with application/apply-patch+yaml (server-side apply:
fieldManager, force, dryRun=All) or a merge/strategic merge patch; core v1 configmaps and networking.k8s.io/v1
networkpolicies likewise. Errors are Kubernetes Status objects (kind Status, apiVersion v1, status Failure,
message, reason, details, code). Every request needs a bearer token good for that cluster (devtools.kubernetes.auth):
401 otherwise, or when the caller's account has no access entry (what EKS answers then). Controls: throttle()
(429 with Retry-After), conflict_next() (a plain 409), fail_next() (503), and the clock moves rollouts forward.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.github.clock import Clock, ScaledClock
from devtools.http import Loopback
from devtools.kubernetes.auth import Credentials, Refused, verify
from devtools.kubernetes.cluster import KINDS, Conflict, Invalid, SimCluster

_PATH = re.compile(
    r"^/clusters/(?P<account>[^/]+)/(?P<region>[^/]+)/(?P<cluster>[^/]+)/"
    r"(?P<prefix>api/v1|apis/[^/]+/v1)(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?$"
)
APPLY = "application/apply-patch+yaml"
PATCHES = {"application/merge-patch+json", "application/strategic-merge-patch+json", APPLY}


@dataclass(frozen=True)
class Recorded:
    """One request as the double saw it (never the token)."""

    cluster: str
    method: str
    path: str
    status: int
    field_manager: str
    dry_run: bool
    account: str


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Kubernetes Status object for a failure."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


class _Answer(Exception):  # noqa: N818 - control flow: an error answer
    def __init__(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.code, self.body, self.headers = code, body, headers or {}


class KubernetesServer:
    """The API servers of a set of simulated clusters."""

    def __init__(
        self,
        clusters: Iterable[SimCluster] = (),
        *,
        credentials: Credentials | None = None,
        check_token_age: bool = True,
        time_scale: float = 1.0,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        self.credentials = credentials
        self.check_token_age = check_token_age
        self.clusters: dict[tuple[str, str, str], SimCluster] = {}
        self.requests: list[Recorded] = []
        self._throttle: dict[str, tuple[int, int]] = {}
        self._conflicts: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._loopback = Loopback(host, port, name="kube-double")
        self.url = ""
        for cluster in clusters:
            self.add(cluster)

    # ---- lifecycle and controls ------------------------------------------------------------------------------

    def start(self) -> KubernetesServer:
        self._loopback.start(self)
        self.url = self._loopback.url
        return self

    def stop(self) -> None:
        self._loopback.stop()

    def __enter__(self) -> KubernetesServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def add(self, cluster: SimCluster) -> SimCluster:
        with self._lock:
            self.clusters[(cluster.account, cluster.region, cluster.name)] = cluster
        return cluster

    def cluster(self, name: str) -> SimCluster:
        return next(c for c in self.clusters.values() if c.name == name)

    @property
    def template(self) -> str:
        """The endpoint of every cluster, as a template of {account}, {region} and {cluster}."""
        return self.url + "/clusters/{account}/{region}/{cluster}"

    def endpoint(self, cluster: SimCluster) -> str:
        return self.template.format(account=cluster.account, region=cluster.region, cluster=cluster.name)

    def throttle(self, cluster: str, requests: int, retry_after_seconds: int = 1) -> None:
        """The next `requests` requests to `cluster` answer 429 with Retry-After."""
        with self._lock:
            self._throttle[cluster] = (requests, retry_after_seconds)

    def conflict_next(self, cluster: str, writes: int = 1) -> None:
        """The next `writes` writes to `cluster` answer a plain 409 (the object was modified meanwhile)."""
        with self._lock:
            self._conflicts[cluster] = writes

    def fail_next(self, cluster: str, requests: int = 1) -> None:
        """The next `requests` requests to `cluster` answer 503."""
        with self._lock:
            self._failures[cluster] = requests

    def seed(self, cluster: SimCluster, obj: dict[str, Any], manager: str = "kubectl-client-side-apply") -> None:
        """Put an object in a cluster, owned by `manager` (what someone else deployed)."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        prefix, plural = next(k for k, v in KINDS.items() if v == (api_version, kind))
        with self._lock:
            cluster.create(prefix, plural, obj, manager, self.clock.now())

    def get(self, cluster: SimCluster, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """An object as the API would return it (None: absent)."""
        prefix, plural = next(k for k, v in KINDS.items() if v == (api_version, kind))
        with self._lock:
            found = cluster.find(prefix, plural, namespace, name)
            return None if found is None else cluster.render(found, (api_version, kind), self.clock.now())

    # ---- the API -----------------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        match = _PATH.match(url.path)
        manager = query.get("fieldManager", "")
        dry_run = query.get("dryRun") == "All"
        cluster_name, account = match.group("cluster") if match else "", ""
        try:
            with self._lock:
                if match is None:
                    raise _Answer(404, status(404, "NotFound", "the server could not find the requested resource"))
                cluster = self.clusters.get((match["account"], match["region"], match["cluster"]))
                if cluster is None:
                    raise _Answer(404, status(404, "NotFound", "no such cluster"))
                account = self._authenticate(cluster, headers)
                self._injected(cluster.name, method)
                code, payload = self._route(cluster, method, match, query, headers, body, manager, dry_run)
            extra: dict[str, str] = {}
        except _Answer as answer:
            code, payload, extra = answer.code, answer.body, answer.headers
        with self._lock:
            self.requests.append(Recorded(cluster_name, method, url.path, code, manager, dry_run, account))
        return code, {"Content-Type": "application/json", **extra}, json.dumps(payload).encode()

    def _authenticate(self, cluster: SimCluster, headers: Any) -> str:
        auth = str(headers.get("Authorization") or "")
        if not auth.startswith("Bearer "):
            raise _Answer(401, status(401, "Unauthorized", "Unauthorized"))
        try:
            now = self.clock.now() if self.check_token_age else None
            caller = verify(auth[len("Bearer ") :], cluster.name, self.credentials, now)
        except Refused:
            raise _Answer(401, status(401, "Unauthorized", "Unauthorized")) from None
        if cluster.access_entries is not None and caller.account not in cluster.access_entries:
            # EKS maps an authenticated principal without an access entry to nobody: 401, as for a bad token.
            raise _Answer(401, status(401, "Unauthorized", "Unauthorized"))
        return caller.account

    def _injected(self, cluster: str, method: str) -> None:
        left, wait = self._throttle.get(cluster, (0, 0))
        if left > 0:
            self._throttle[cluster] = (left - 1, wait)
            raise _Answer(
                429,
                status(
                    429, "TooManyRequests", "Too many requests, please try again later.", {"retryAfterSeconds": wait}
                ),
                {"Retry-After": str(wait)},
            )
        if self._failures.get(cluster, 0) > 0:
            self._failures[cluster] -= 1
            raise _Answer(
                503, status(503, "ServiceUnavailable", "the server is currently unable to handle the request")
            )
        if method == "PATCH" and self._conflicts.get(cluster, 0) > 0:
            self._conflicts[cluster] -= 1
            raise _Answer(
                409,
                status(
                    409,
                    "Conflict",
                    "Operation cannot be fulfilled: the object has been modified; please apply your changes to the "
                    "latest version and try again",
                ),
            )

    def _route(
        self,
        cluster: SimCluster,
        method: str,
        match: re.Match[str],
        query: dict[str, str],
        headers: Any,
        body: bytes,
        manager: str,
        dry_run: bool,
    ) -> tuple[int, dict[str, Any]]:
        prefix, plural, namespace, name = match["prefix"], match["plural"], match["namespace"], match["name"]
        kind = KINDS.get((prefix, plural))
        if kind is None:
            raise _Answer(404, status(404, "NotFound", "the server could not find the requested resource"))
        group = kind[0].split("/")[0] if "/" in kind[0] else ""
        verb = {"GET": "get" if name else "list", "PATCH": "patch"}.get(method, method.lower())
        if verb in cluster.forbidden_verbs:
            resource = f"{plural}.{group}" if group else plural
            raise _Answer(
                403,
                status(
                    403,
                    "Forbidden",
                    f'{resource} "{name or ""}" is forbidden: User "hubspoke" cannot {verb} resource "{plural}" '
                    f'in API group "{group}"' + (f' in the namespace "{namespace}"' if namespace else ""),
                    {"name": name or "", "group": group, "kind": plural},
                ),
            )
        now = self.clock.now()
        if method == "GET" and name is None:
            items = [cluster.render(s, kind, now) for s in cluster.listing(prefix, plural, namespace)]
            return 200, {
                "kind": kind[1] + "List",
                "apiVersion": kind[0],
                "metadata": {"resourceVersion": str(cluster.resource_version)},
                "items": items,
            }
        if name is None or namespace is None:
            raise _Answer(405, status(405, "MethodNotAllowed", f"the server does not allow this method: {method}"))
        not_found = _Answer(
            404,
            status(
                404,
                "NotFound",
                f'{plural}.{group + "." if group else ""}"{name}" not found'.replace(f'{plural}."', f'{plural} "'),
                {"name": name, "group": group, "kind": plural},
            ),
        )
        if method == "GET":
            found = cluster.find(prefix, plural, namespace, name)
            if found is None:
                raise not_found
            return 200, cluster.render(found, kind, now)
        if method != "PATCH":
            raise _Answer(405, status(405, "MethodNotAllowed", f"the server does not allow this method: {method}"))
        return self._patch(cluster, kind, match, query, headers, body, manager, dry_run, not_found)

    def _patch(
        self,
        cluster: SimCluster,
        kind: tuple[str, str],
        match: re.Match[str],
        query: dict[str, str],
        headers: Any,
        body: bytes,
        manager: str,
        dry_run: bool,
        not_found: _Answer,
    ) -> tuple[int, dict[str, Any]]:
        prefix, plural, namespace, name = match["prefix"], match["plural"], match["namespace"], match["name"]
        now = self.clock.now()
        content_type = str(headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type not in PATCHES:
            raise _Answer(
                415,
                status(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format"
                    f" - accepted media types include: {', '.join(sorted(PATCHES))}",
                ),
            )
        try:
            patch = json.loads(body or b"{}")  # JSON is YAML: the clients send apply bodies as JSON
        except ValueError:
            raise _Answer(400, status(400, "BadRequest", "the body is not JSON")) from None
        if not isinstance(patch, dict):
            raise _Answer(400, status(400, "BadRequest", "the body is not an object"))
        if content_type == APPLY:
            if not manager:
                raise _Answer(
                    422, status(422, "Invalid", "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value")
                )
            if (patch.get("apiVersion"), patch.get("kind")) != kind:
                raise _Answer(400, status(400, "BadRequest", f"the body's apiVersion/kind is not {kind[0]}/{kind[1]}"))
            try:
                stored, created = cluster.apply(
                    prefix, plural, namespace, name, patch,
                    manager=manager, force=query.get("force") == "true", dry_run=dry_run, now=now,
                )  # fmt: skip
            except Conflict as conflict:
                raise _Answer(409, _conflict_status(conflict, kind[0])) from None
            except Invalid as err:
                raise _Answer(422, status(422, "Invalid", str(err))) from None
            return (201 if created else 200), cluster.render(stored, kind, now)
        if cluster.find(prefix, plural, namespace, name) is None:
            raise not_found
        if dry_run:
            raise _Answer(400, status(400, "BadRequest", "the double takes dryRun only with server-side apply"))
        stored = cluster.update(prefix, plural, namespace, name, patch, manager=manager or "unknown", now=now)
        return 200, cluster.render(stored, kind, now)


def _conflict_status(conflict: Conflict, api_version: str) -> dict[str, Any]:
    causes = [
        {"reason": "FieldManagerConflict", "message": f'conflict with "{manager}" using {api_version}',
         "field": "." + ".".join(path)}
        for path, manager in conflict.conflicts
    ]  # fmt: skip
    lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    n = len(causes)
    return status(
        409,
        "Conflict",
        f"Apply failed with {n} conflict{'s' if n != 1 else ''}: {lines.removeprefix('- ') if n == 1 else lines}",
        {"causes": causes},
    )
