"""Local bundling of the Lambda asset, no Docker: copy lambdas/ and pip-install lambdas/requirements.txt.

The wheels are hash-pinned and chosen for Lambda's python3.14 and the functions' architecture (manylinux), not
for the machine that synthesizes: any machine builds the same asset. Most are pure Python (py3-none-any); the
Kubernetes client's msgspec and PyYAML are compiled, so the architecture matters. CDK calls `try_bundle` first;
returning True means the Docker image is never used (it is only named because BundlingOptions requires one).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/.mypy_cache"]
REQUIREMENTS = "requirements.txt"
# pip's platform tag per Lambda architecture (manylinux2014 also takes the manylinux_2_17 wheels).
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}


class BundlingError(RuntimeError):
    """pip could not install the Lambda requirements; the message says what pip said."""


@jsii.implements(ILocalBundling)
class PipBundler:
    """Copies the source tree and installs its pinned requirements beside it."""

    def __init__(self, source: Path, python_version: str, platform: str = PLATFORMS["x86_64"]) -> None:
        self._source = source
        self._python_version = python_version
        self._platform = platform

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        out = Path(output_dir)
        shutil.copytree(
            self._source, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")
        )
        requirements = self._source / REQUIREMENTS
        if not requirements.exists():
            return True
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--no-deps", "--require-hashes", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", self._python_version, "--platform", self._platform,
            "--target", str(out), "-r", str(requirements),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
        if done.returncode != 0:
            raise BundlingError(f"pip could not bundle {requirements}:\n{done.stderr.strip()}")
        return True


def python_asset(source: Path, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> lambda_.Code:
    """The asset of `source` with its requirements installed; hashed by source so an unchanged tree is reused."""
    version = runtime.name.removeprefix("python")
    return lambda_.Code.from_asset(
        str(source),
        exclude=EXCLUDE,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            # Never pulled: PipBundler always bundles locally.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-" + runtime.name),
            local=PipBundler(source, version, PLATFORMS[architecture.name]),
        ),
    )
