"""Worlds of repositories: a generated organisation, or a JSON file of repository specs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from devtools.github.model import RepoSpec, check_spec


def _spread(n: int, k: int) -> list[int]:
    """k indices of range(n), evenly spread (distinct when k <= n)."""
    return [(2 * i + 1) * n // (2 * k) for i in range(k)]


def org_world(
    org: str = "acme",
    count: int = 75,
    *,
    protected: int = 0,
    archived: int = 0,
    forks: int = 0,
    topics: dict[str, list[str]] | None = None,
) -> list[RepoSpec]:
    """Repositories {org}/repo-001 ... with a README each; some protected, archived or forks, spread evenly.

    `topics` maps a repository's name ("repo-007" or "acme/repo-007") to its topics.
    """
    if min(count, protected, archived, forks) < 0:
        raise ValueError("counts must be >= 0")
    if protected + archived + forks > count:
        raise ValueError(f"protected + archived + forks ({protected + archived + forks}) exceeds count ({count})")
    specs = [
        RepoSpec(full_name=f"{org}/repo-{i:03d}", files={"README.md": f"# repo-{i:03d}\n"}) for i in range(1, count + 1)
    ]
    free = list(range(count))
    for how_many, kind in ((protected, "protected"), (archived, "archived"), (forks, "fork")):
        chosen = [free[i] for i in _spread(len(free), how_many)] if how_many else []
        for index in chosen:
            if kind == "protected":
                specs[index].protected = ["*"]
            elif kind == "archived":
                specs[index].archived = True
            else:
                specs[index].fork = True
        free = [i for i in free if i not in set(chosen)]
    by_name = {s.full_name: s for s in specs}
    for key, names in (topics or {}).items():
        spec = by_name.get(key if "/" in key else f"{org}/{key}")
        if spec is None:
            raise ValueError(f"topics: no repository {key!r} in the world")
        spec.topics = list(names)
    return specs


_FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "full_name": (lambda v: isinstance(v, str), "must be a string 'owner/name'"),
    "default_branch": (lambda v: isinstance(v, str) and bool(v), "must be a non-empty string"),
    "archived": (lambda v: isinstance(v, bool), "must be true or false"),
    "fork": (lambda v: isinstance(v, bool), "must be true or false"),
    "private": (lambda v: isinstance(v, bool), "must be true or false"),
    "can_push": (lambda v: isinstance(v, bool), "must be true or false"),
    "topics": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "must be a list of strings"),
    "protected": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "must be a list of strings"),
    "files": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and k and isinstance(t, str) for k, t in v.items()),
        "must be an object of path -> text",
    ),
}


def load_world(path: Path) -> list[RepoSpec]:
    """Repositories from a JSON file {"repos": [{RepoSpec fields}, ...]}; ValueError names the bad field.

    OSError propagates when the file cannot be read.
    """
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("repos"), list):
        raise ValueError(f'{path}: repos: must be a list (the file is {{"repos": [...]}})')
    known = {f.name for f in fields(RepoSpec)}
    specs: list[RepoSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(data["repos"]):
        where = f"repos[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be an object")
        unknown = sorted(set(item) - known)
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
        if "full_name" not in item:
            raise ValueError(f"{where}.full_name: required")
        for name, value in item.items():
            check, message = _FIELD_CHECKS[name]
            if not check(value):
                raise ValueError(f"{where}.{name}: {message}")
        spec = RepoSpec(**item)
        try:
            check_spec(spec)
        except ValueError as err:
            raise ValueError(f"{where}.{err}") from None
        if spec.full_name.lower() in seen:
            raise ValueError(f"{where}.full_name: {spec.full_name!r} appears twice")
        seen.add(spec.full_name.lower())
        specs.append(spec)
    return specs
