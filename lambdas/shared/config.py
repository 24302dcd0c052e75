"""Each function's environment, one pydantic model per function (the stack sets exactly these: stacks/functions.py).

Every field is required: the stack always sets it, so a default here would be a second copy of the one in
stacks/settings.py. A missing or malformed variable is a deployment bug and fails loudly on the first read.
Shared code never reads the environment; it takes the values (or the model) from its handler.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared import caches


def _split(value: object) -> object:
    return tuple(c for c in value.split(",") if c) if isinstance(value, str) else value


def _none_if_empty(value: object) -> object:
    return None if value == "" else value


class _Env(BaseModel):
    # Fields are read by their variable names (aliases); other variables of the process are not ours.
    model_config = ConfigDict(frozen=True, extra="ignore")


class LedgerEnv(_Env):
    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)
    ledger_ttl_days: int = Field(alias="LEDGER_TTL_DAYS", ge=1)


class GitHubEnv(_Env):
    """The GitHub client's connection (github-file-sync, the github-org source, the gate)."""

    github_api_url: str = Field(alias="GITHUB_API_URL", min_length=1)
    github_token_secret: str = Field(alias="GITHUB_TOKEN_SECRET", min_length=1)
    github_inline_retry_after_max_seconds: int = Field(alias="GITHUB_INLINE_RETRY_AFTER_MAX", ge=0)
    github_request_timeout_seconds: int = Field(alias="GITHUB_REQUEST_TIMEOUT", ge=1)


class SteadyEnv(_Env):
    """The ecs-restart rollout wait's deployment defaults."""

    wait_for_steady: bool = Field(alias="WAIT_FOR_STEADY")
    steady_timeout_seconds: int = Field(alias="STEADY_TIMEOUT_SECONDS", ge=0)


class ImageIndexEnv(_Env):
    image_index_table: str = Field(alias="IMAGE_INDEX_TABLE", min_length=1)
    # Comma-separated; empty: every cluster.
    ecs_clusters: Annotated[tuple[str, ...], BeforeValidator(_split)] = Field(alias="ECS_CLUSTERS")
    index_max_age_minutes: int = Field(alias="INDEX_MAX_AGE_MINUTES", ge=1)
    # Comma-separated; other accounts scanned (under the cross-account role) besides this one, in these regions
    # (empty: this function's region).
    image_push_accounts: Annotated[tuple[str, ...], BeforeValidator(_split)] = Field(alias="IMAGE_PUSH_ACCOUNTS")
    image_push_regions: Annotated[tuple[str, ...], BeforeValidator(_split)] = Field(alias="IMAGE_PUSH_REGIONS")
    # Comma-separated name patterns of the EKS clusters (in the accounts and regions above) whose Kubernetes
    # workloads the index covers too; empty: none (shared.kube_images).
    eks_clusters: Annotated[tuple[str, ...], BeforeValidator(_split)] = Field(alias="EKS_CLUSTERS")


class CrossAccountEnv(_Env):
    """How a target in another account is reached (settings cross_account; shared.credentials)."""

    cross_account_role_name: str = Field(alias="CROSS_ACCOUNT_ROLE_NAME", min_length=1)
    # Empty: no external id is sent.
    cross_account_external_id: str = Field(alias="CROSS_ACCOUNT_EXTERNAL_ID")
    # Comma-separated; empty: any account (the IAM policy may still narrow it).
    cross_account_accounts: Annotated[tuple[str, ...], BeforeValidator(_split)] = Field(alias="CROSS_ACCOUNT_ACCOUNTS")


class HubEnv(LedgerEnv, GitHubEnv, SteadyEnv, ImageIndexEnv, CrossAccountEnv):
    """Validates requests (the operations' checks), discovers (every source), seeds the ledger, claims run ids."""

    bucket: str = Field(alias="BUCKET_NAME", min_length=1)
    default_max_concurrency: int = Field(alias="DEFAULT_MAX_CONCURRENCY", ge=1)
    # The ceiling for all runs together (the spoke's reserved concurrency); empty: none. A run asking for more
    # is refused.
    max_total_concurrency: Annotated[int | None, BeforeValidator(_none_if_empty)] = Field(
        alias="MAX_TOTAL_CONCURRENCY", ge=1
    )
    failure_threshold_percent: float = Field(alias="FAILURE_THRESHOLD_PERCENT", ge=0, le=100)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    github_max_concurrency: int = Field(alias="GITHUB_MAX_CONCURRENCY", ge=1)
    # The Spoke task's TimeoutSeconds: everything one target does (a rollout wait too) must fit in it.
    spoke_timeout_seconds: int = Field(alias="SPOKE_TIMEOUT_SECONDS", ge=1)
    # Every function's memory (settings lambda_memory_mb): a plan's Lambda GB-seconds.
    lambda_memory_mb: int = Field(alias="LAMBDA_MEMORY_MB", ge=128)


class SpokeEnv(LedgerEnv, GitHubEnv, SteadyEnv, CrossAccountEnv):
    """Runs an operation on one target and records it."""

    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    idempotency_hours: int = Field(alias="IDEMPOTENCY_HOURS", ge=1)


class GateEnv(GitHubEnv):
    """Reads the operation's API budget (GitHub's rate limit); with adaptive concurrency, the run's counters."""

    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)


class SummarizeEnv(_Env):
    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)
    bucket: str = Field(alias="BUCKET_NAME", min_length=1)
    failure_threshold_percent: float = Field(alias="FAILURE_THRESHOLD_PERCENT", ge=0, le=100)


class IndexerEnv(ImageIndexEnv, CrossAccountEnv):
    """Scans the clusters into the image index."""


E = TypeVar("E", bound=_Env)


@caches.register
@cache
def _read(model: type[_Env]) -> _Env:
    return model.model_validate(dict(os.environ))


def config(model: type[E]) -> E:
    """The function's environment as `model`, read once per container (cached per model)."""
    value = _read(model)
    assert isinstance(value, model)
    return value
