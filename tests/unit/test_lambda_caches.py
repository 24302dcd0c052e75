"""Every per-container cache in the Lambda code is registered, so the local engine can empty it."""

from __future__ import annotations

import ast
from pathlib import Path

LAMBDAS = Path(__file__).parents[2] / "lambdas"
CACHE_DECORATORS = {"cache", "lru_cache", "cached_property"}


def _name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return f"{_name(target.value)}.{target.attr}"
    return target.id if isinstance(target, ast.Name) else ""


def test_every_functools_cache_in_lambdas_is_registered_with_shared_caches():
    # GIVEN every function of the Lambda code cached with functools
    unregistered = []
    for path in sorted(LAMBDAS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = [_name(d).rpartition(".")[2] for d in node.decorator_list]
            full = [_name(d) for d in node.decorator_list]
            cached = [i for i, n in enumerate(names) if n in CACHE_DECORATORS]
            # THEN the decorator just above the cache registers it (shared/caches.py)
            if cached and (cached[0] == 0 or full[cached[0] - 1] != "caches.register"):
                unregistered.append(f"{path.relative_to(LAMBDAS)}:{node.lineno} {node.name}")
    assert unregistered == []


def test_the_check_sees_the_caches_there_are():
    # The four caches of today's Lambda code, so the check above cannot pass by finding none.
    found = set()
    for path in LAMBDAS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(_name(d) == "caches.register" for d in node.decorator_list):
                found.add(node.name)
    assert {"_read", "client", "_restart_once", "_pool"} <= found
