"""One simulated cluster: its objects, field ownership (server-side apply) and rollouts.

Server-side apply, as far as HubSpoke relies on it: a field is a leaf path of the applied object (a list is one
atomic field, as an atomic list is in Kubernetes); a manager's apply takes the fields it sets; a field another
manager owns with a different value is a conflict unless `force`; a field the same manager applied before and
no longer sets is removed when nobody else owns it; an update (merge or strategic patch) takes the fields it
changes from whoever owned them. An apply that changes nothing keeps resourceVersion; a change of `spec` bumps
metadata.generation; a workload's rollout completes `rollout_seconds` (simulated) after its generation moved.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

# (api prefix, plural) -> (apiVersion, kind); only what the product calls.
KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("apis/apps/v1", "deployments"): ("apps/v1", "Deployment"),
    ("apis/apps/v1", "statefulsets"): ("apps/v1", "StatefulSet"),
    ("apis/apps/v1", "daemonsets"): ("apps/v1", "DaemonSet"),
    ("api/v1", "configmaps"): ("v1", "ConfigMap"),
    ("apis/networking.k8s.io/v1", "networkpolicies"): ("networking.k8s.io/v1", "NetworkPolicy"),
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}
_IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
_SERVER_OWNED = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}

Path = tuple[str, ...]


class Conflict(Exception):  # noqa: N818 - Kubernetes' own word for it
    """Fields another manager owns with another value: [(path, manager)]."""

    def __init__(self, conflicts: list[tuple[Path, str]]) -> None:
        self.conflicts = conflicts
        super().__init__(f"{len(conflicts)} conflicts")


class Invalid(Exception):  # noqa: N818 - Kubernetes' reason name
    """The request's object is not acceptable (422)."""


def leaves(obj: Any, path: Path = ()) -> dict[Path, Any]:
    """The leaf paths of a JSON object (an empty map or a list is a leaf)."""
    if isinstance(obj, dict) and obj:
        out: dict[Path, Any] = {}
        for key, value in obj.items():
            out.update(leaves(value, (*path, str(key))))
        return out
    return {path: obj}


def _fields(obj: dict[str, Any]) -> dict[Path, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_OWNED}
    found = leaves({**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta})
    return {p: v for p, v in found.items() if p not in _IDENTITY and p != ("metadata",)}


def _get(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _set(obj: dict[str, Any], path: Path, value: Any) -> None:
    for key in path[:-1]:
        nxt = obj.get(key)
        if not isinstance(nxt, dict):
            nxt = obj[key] = {}
        obj = nxt
    obj[path[-1]] = copy.deepcopy(value)


def _delete(obj: dict[str, Any], path: Path) -> None:
    parents = []
    for key in path[:-1]:
        if not isinstance(obj.get(key), dict):
            return
        parents.append((obj, key))
        obj = obj[key]
    obj.pop(path[-1], None)
    for parent, key in reversed(parents):  # drop maps the removal left empty
        if parent[key] == {}:
            del parent[key]


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 JSON merge patch (a strategic merge patch of maps only is the same)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def fields_v1(paths: set[Path]) -> dict[str, Any]:
    """A manager's fields as Kubernetes' FieldsV1 ("f:<name>" maps)."""
    out: dict[str, Any] = {}
    for path in sorted(paths):
        node = out
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return out


_MISSING = object()


@dataclass
class Stored:
    obj: dict[str, Any]
    # manager -> (operation, fields)
    managers: dict[str, tuple[str, set[Path]]] = field(default_factory=dict)
    generation_changed_at: float = 0.0


def _conflicts(stored: Stored, wanted: dict[Path, Any], manager: str) -> list[tuple[Path, str]]:
    """The fields another manager owns with a value other than the applied one."""
    out: list[tuple[Path, str]] = []
    for path, value in wanted.items():
        current = _get(stored.obj, path)
        out.extend(
            (path, other)
            for other, (_, paths) in stored.managers.items()
            if other != manager and path in paths and current != value
        )
    return out


def _take(stored: Stored, wanted: dict[Path, Any], manager: str, forced: set[Path]) -> None:
    """Apply `wanted` as `manager`: drop what it no longer sets (unless another owns it), take forced fields."""
    previous = stored.managers.get(manager, ("Apply", set()))[1]
    for path in previous - set(wanted):
        if not any(path in paths for other, (_, paths) in stored.managers.items() if other != manager):
            _delete(stored.obj, path)
    for path, value in wanted.items():
        _set(stored.obj, path, value)
    for other in list(stored.managers):
        if other != manager and forced:
            stored.managers[other][1].difference_update(forced)
            if not stored.managers[other][1]:
                del stored.managers[other]


@dataclass
class SimCluster:
    """A cluster of the world: its name and place, who may call it, its objects."""

    name: str
    account: str = "123456789012"
    region: str = "us-east-1"
    # Accounts with an access entry (None: any caller with a good token); others are refused as EKS does.
    access_entries: set[str] | None = None
    # Verbs the access entry's RBAC does not grant (e.g. {"patch"}): answered 403 Forbidden.
    forbidden_verbs: set[str] = field(default_factory=set)
    rollout_seconds: float = 30.0
    objects: dict[tuple[str, str, str, str], Stored] = field(default_factory=dict)
    resource_version: int = 1000

    # ---- reading ------------------------------------------------------------------------------------------

    def render(self, stored: Stored, kind: tuple[str, str], now: float) -> dict[str, Any]:
        """The object as the API returns it (managedFields and, for a workload, its rollout's status)."""
        obj = copy.deepcopy(stored.obj)
        obj["apiVersion"], obj["kind"] = kind
        obj["metadata"]["managedFields"] = [
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": kind[0],
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(paths),
            }
            for manager, (operation, paths) in sorted(stored.managers.items())
        ]
        if kind[1] in WORKLOADS:
            obj["status"] = self._status(obj, now - stored.generation_changed_at >= self.rollout_seconds)
        return obj

    def _status(self, obj: dict[str, Any], done: bool) -> dict[str, Any]:
        generation = int(obj["metadata"].get("generation", 1))
        replicas = int(obj.get("spec", {}).get("replicas", 1))
        if obj["kind"] == "DaemonSet":
            nodes = 3
            return {
                "observedGeneration": generation,
                "desiredNumberScheduled": nodes,
                "currentNumberScheduled": nodes,
                "numberMisscheduled": 0,  # required in DaemonSetStatus: a client decoding the list fails without it
                "updatedNumberScheduled": nodes if done else 0,
                "numberAvailable": nodes if done else nodes - 1,
                "numberReady": nodes if done else nodes - 1,
            }
        return {
            "observedGeneration": generation,
            "replicas": replicas if done else replicas + 1,
            "updatedReplicas": replicas if done else 0,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }

    def find(self, prefix: str, plural: str, namespace: str, name: str) -> Stored | None:
        return self.objects.get((prefix, plural, namespace, name))

    def listing(self, prefix: str, plural: str, namespace: str | None) -> list[Stored]:
        return [
            s
            for (p, pl, ns, _), s in sorted(self.objects.items())
            if p == prefix and pl == plural and (namespace is None or ns == namespace)
        ]

    # ---- writing ------------------------------------------------------------------------------------------

    def _bump(self, stored: Stored, before: dict[str, Any], now: float) -> None:
        if stored.obj == before:
            return
        self.resource_version += 1
        meta = stored.obj["metadata"]
        meta["resourceVersion"] = str(self.resource_version)
        if stored.obj.get("spec") != before.get("spec"):
            meta["generation"] = int(meta.get("generation", 1)) + 1
            stored.generation_changed_at = now

    def _new(self, prefix: str, plural: str, namespace: str, name: str, now: float) -> Stored:
        self.resource_version += 1
        meta = {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": str(self.resource_version),
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        }
        # A new object starts with its rollout done (created before the story begins).
        return Stored({"metadata": meta}, generation_changed_at=now - self.rollout_seconds)

    def create(self, prefix: str, plural: str, obj: dict[str, Any], manager: str, now: float) -> Stored:
        """Seed an object (the world's), owned by `manager` as an Update would own it."""
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "default")), str(meta["name"])
        stored = self._new(prefix, plural, namespace, name, now)
        merge_patch(stored.obj, {k: v for k, v in copy.deepcopy(obj).items() if k not in ("apiVersion", "kind")})
        stored.obj["metadata"].update({"name": name, "namespace": namespace})
        stored.managers[manager] = ("Update", set(_fields(obj)))
        self.objects[(prefix, plural, namespace, name)] = stored
        return stored

    def apply(
        self,
        prefix: str,
        plural: str,
        namespace: str,
        name: str,
        applied: dict[str, Any],
        *,
        manager: str,
        force: bool,
        dry_run: bool,
        now: float,
    ) -> tuple[Stored, bool]:
        """Server-side apply; returns the object (a copy when dry_run) and whether it was created."""
        meta = applied.get("metadata") or {}
        if str(meta.get("name", "")) != name:
            raise Invalid(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        if str(meta.get("namespace", namespace)) != namespace:
            raise Invalid("the namespace of the object does not match the namespace on the URL")
        key = (prefix, plural, namespace, name)
        found = self.objects.get(key)
        created = found is None
        stored = self._new(prefix, plural, namespace, name, now) if found is None else copy.deepcopy(found)
        before = copy.deepcopy(stored.obj)
        wanted = _fields(applied)
        conflicts = _conflicts(stored, wanted, manager)
        if conflicts and not force:
            raise Conflict(conflicts)
        _take(stored, wanted, manager, {p for p, _ in conflicts})
        stored.managers[manager] = ("Apply", set(wanted))
        self._bump(stored, before, now)
        if not dry_run:
            self.objects[key] = stored
        elif created:
            stored.obj["metadata"]["resourceVersion"] = ""
        return stored, created

    def update(
        self, prefix: str, plural: str, namespace: str, name: str, patch: dict[str, Any], *, manager: str, now: float
    ) -> Stored:
        """A merge (or strategic) patch by `manager`: it takes the fields it changes."""
        stored = self.objects[(prefix, plural, namespace, name)]
        before = copy.deepcopy(stored.obj)
        merge_patch(stored.obj, patch)
        old, new = _fields(before), _fields(stored.obj)
        changed = {p for p in new if old.get(p, _MISSING) != new[p]}
        for other in list(stored.managers):
            if other != manager:
                stored.managers[other][1].difference_update(changed)
                if not stored.managers[other][1]:
                    del stored.managers[other]
        if changed:
            op, paths = stored.managers.get(manager, ("Update", set()))
            stored.managers[manager] = (op, paths | changed)
        self._bump(stored, before, now)
        return stored
