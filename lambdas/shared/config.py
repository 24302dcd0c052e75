"""Function configuration, read from the environment the stack sets (stacks/functions.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Config:
    ledger_table: str
    bucket: str
    default_max_concurrency: int
    failure_threshold_percent: float
    ledger_ttl_days: int


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
    )
