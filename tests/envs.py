"""Function environments for tests that run handlers in-process (the stack sets the same names)."""

from __future__ import annotations

# Every variable any function reads, with test values; a handler reads only its own (shared/config.py).
VARIABLES: dict[str, str] = {
    "LEDGER_TABLE": "ledger-test",
    "LEDGER_TTL_DAYS": "30",
    "BUCKET_NAME": "hubspoke-test",
    "DEFAULT_MAX_CONCURRENCY": "10",
    "MAX_TOTAL_CONCURRENCY": "",
    "FAILURE_THRESHOLD_PERCENT": "0",
    "IMAGE_INDEX_TABLE": "image-index-test",
    "IDEMPOTENCY_TABLE": "idempotency-test",
    "ECS_CLUSTERS": "",
    "INDEX_MAX_AGE_MINUTES": "60",
    "IMAGE_PUSH_ACCOUNTS": "",
    "IMAGE_PUSH_REGIONS": "",
    "EKS_CLUSTERS": "",
    "IDEMPOTENCY_HOURS": "24",
    "WAIT_FOR_STEADY": "false",
    "STEADY_TIMEOUT_SECONDS": "600",
    "SPOKE_TIMEOUT_SECONDS": "300",
    "LAMBDA_MEMORY_MB": "512",
    "GITHUB_API_URL": "https://api.github.com",
    "GITHUB_TOKEN_SECRET": "hubspoke/github-token",
    "GITHUB_MAX_CONCURRENCY": "2",
    "GITHUB_INLINE_RETRY_AFTER_MAX": "10",
    "GITHUB_REQUEST_TIMEOUT": "20",
    "CROSS_ACCOUNT_ROLE_NAME": "hubspoke-target",
    "CROSS_ACCOUNT_EXTERNAL_ID": "hubspoke-test-external-id",
    "CROSS_ACCOUNT_ACCOUNTS": "",
}
