"""Each function's environment holds exactly the variables its code reads: no table name, bucket or token
secret name where the function has no use for it, and nothing it reads left unset (a KeyError at cold start)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from shared.config import GateEnv, HubEnv, IndexerEnv, SpokeEnv, SummarizeEnv
from tests.infrastructure.conftest import resources

# Read by Powertools in every function (logger, metrics).
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
GITHUB = {"GITHUB_API_URL", "GITHUB_TOKEN_SECRET", "GITHUB_INLINE_RETRY_AFTER_MAX", "GITHUB_REQUEST_TIMEOUT"}
STEADY = {"WAIT_FOR_STEADY", "STEADY_TIMEOUT_SECONDS"}
# The index's table, its clusters, its freshness, and the other accounts and regions it covers.
IMAGE_INDEX = {
    "IMAGE_INDEX_TABLE",
    "ECS_CLUSTERS",
    "INDEX_MAX_AGE_MINUTES",
    "IMAGE_PUSH_ACCOUNTS",
    "IMAGE_PUSH_REGIONS",
    "EKS_CLUSTERS",
}
# Reaching targets in other accounts (the role to assume, its external id, the accounts allowed).
CROSS_ACCOUNT = {"CROSS_ACCOUNT_ROLE_NAME", "CROSS_ACCOUNT_EXTERNAL_ID", "CROSS_ACCOUNT_ACCOUNTS"}

# By handler: what each function's code reads, written here from what each one does.
EXPECTED: dict[str, set[str]] = {
    # validates requests (ecs-restart's wait must fit the spoke timeout), discovers (image index, live ECS
    # scan, GitHub org), seeds the ledger, claims the run id, picks the default concurrency
    "hub.handler.handler": {
        "LEDGER_TABLE",
        "LEDGER_TTL_DAYS",
        "BUCKET_NAME",
        "DEFAULT_MAX_CONCURRENCY",
        "MAX_TOTAL_CONCURRENCY",  # refuses a run asking for more than all runs together may use
        "FAILURE_THRESHOLD_PERCENT",
        "IDEMPOTENCY_TABLE",
        "GITHUB_MAX_CONCURRENCY",
        "SPOKE_TIMEOUT_SECONDS",
        "LAMBDA_MEMORY_MB",  # a plan's Lambda GB-seconds
        *GITHUB,
        *STEADY,
        *IMAGE_INDEX,
        *CROSS_ACCOUNT,  # discovery in other accounts (ecs-clusters)
    },
    # runs an operation (ecs-restart: idempotency table and rollout wait; github-file-sync: GitHub) and
    # records the result in the ledger
    "spoke.handler.handler": {
        "LEDGER_TABLE",
        "LEDGER_TTL_DAYS",
        "IDEMPOTENCY_TABLE",
        "IDEMPOTENCY_HOURS",
        *GITHUB,
        *STEADY,
        *CROSS_ACCOUNT,  # a target in another account runs under its role there
    },
    # reads GitHub's rate limit; with adaptive concurrency, the run's counters item in the ledger
    "gate.handler.handler": {*GITHUB, "LEDGER_TABLE"},
    # streams the ledger, writes the report, applies the deployment's threshold when the run has none
    "summarize.handler.handler": {"LEDGER_TABLE", "BUCKET_NAME", "FAILURE_THRESHOLD_PERCENT"},
    # scans the clusters into the image index
    "indexer.handler.handler": {*IMAGE_INDEX, *CROSS_ACCOUNT},
}
MODELS: dict[str, type[BaseModel]] = {
    "hub.handler.handler": HubEnv,
    "spoke.handler.handler": SpokeEnv,
    "gate.handler.handler": GateEnv,
    "summarize.handler.handler": SummarizeEnv,
    "indexer.handler.handler": IndexerEnv,
}


def _environments(template: dict[str, Any]) -> dict[str, set[str]]:
    return {
        f["Properties"]["Handler"]: set(f["Properties"].get("Environment", {}).get("Variables", {}))
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") in EXPECTED
    }


def test_every_function_is_listed(template):
    assert set(_environments(template)) == set(EXPECTED)


@pytest.mark.parametrize("handler", sorted(EXPECTED))
def test_a_function_holds_exactly_the_variables_it_reads(template, handler):
    held = _environments(template)[handler]
    expected = EXPECTED[handler] | POWERTOOLS
    assert not held - expected, f"{handler} holds variables it does not read"
    assert not expected - held, f"{handler} lacks variables it reads"


@pytest.mark.parametrize("handler", sorted(EXPECTED))
def test_the_function_model_reads_the_listed_variables(handler):
    """The model is what the code reads: a field added there must be added to the stack (and here)."""
    model = MODELS[handler]
    assert {f.alias for f in model.model_fields.values()} == EXPECTED[handler]
