"""Function configuration, read from the environment the stack sets (stacks/functions.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from shared import caches


@dataclass(frozen=True)
class Config:
    ledger_table: str
    bucket: str
    default_max_concurrency: int
    failure_threshold_percent: float
    ledger_ttl_days: int
    # The image-push trigger (empty where a deployment does not use it).
    image_index_table: str = ""
    idempotency_table: str = ""
    ecs_clusters: tuple[str, ...] = ()
    index_max_age_minutes: int = 60
    idempotency_hours: int = 24
    wait_for_steady: bool = False
    steady_timeout_seconds: int = 600
    # The Spoke task's TimeoutSeconds: everything one target does (a rollout wait too) must fit in it.
    spoke_timeout_seconds: int = 300
    # GitHub (github-file-sync, github-org, the gate); defaults as in stacks/settings.py.
    github_api_url: str = "https://api.github.com"
    github_token_secret: str = "hubspoke/github-token"  # noqa: S105 - the secret's name, not a token
    github_max_concurrency: int = 2
    github_inline_retry_after_max_seconds: int = 10
    github_request_timeout_seconds: int = 20


@caches.register
@cache
def config() -> Config:
    """Read once per container; a missing variable is a deployment bug and fails loudly."""
    env = os.environ
    return Config(
        ledger_table=env["LEDGER_TABLE"],
        bucket=env["BUCKET_NAME"],
        default_max_concurrency=int(env["DEFAULT_MAX_CONCURRENCY"]),
        failure_threshold_percent=float(env["FAILURE_THRESHOLD_PERCENT"]),
        ledger_ttl_days=int(env["LEDGER_TTL_DAYS"]),
        image_index_table=env.get("IMAGE_INDEX_TABLE", ""),
        idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
        ecs_clusters=tuple(c for c in env.get("ECS_CLUSTERS", "").split(",") if c),
        index_max_age_minutes=int(env.get("INDEX_MAX_AGE_MINUTES", "60")),
        idempotency_hours=int(env.get("IDEMPOTENCY_HOURS", "24")),
        wait_for_steady=env.get("WAIT_FOR_STEADY", "false") == "true",
        steady_timeout_seconds=int(env.get("STEADY_TIMEOUT_SECONDS", "600")),
        spoke_timeout_seconds=int(env.get("SPOKE_TIMEOUT_SECONDS", "300")),
        github_api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
        github_token_secret=env.get("GITHUB_TOKEN_SECRET", "hubspoke/github-token"),
        github_max_concurrency=int(env.get("GITHUB_MAX_CONCURRENCY", "2")),
        github_inline_retry_after_max_seconds=int(env.get("GITHUB_INLINE_RETRY_AFTER_MAX", "10")),
        github_request_timeout_seconds=int(env.get("GITHUB_REQUEST_TIMEOUT", "20")),
    )
