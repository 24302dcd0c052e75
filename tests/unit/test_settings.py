"""Settings: defaults are valid, and every bad value names its cdk.json key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacks.settings import Settings, SettingsError, load_settings

CDK_JSON = Path(__file__).parents[2] / "cdk.json"


def test_cdk_json_settings_are_valid_and_match_the_documented_defaults():
    # GIVEN the project's cdk.json WHEN it is loaded THEN it equals the model's defaults
    settings = load_settings(json.loads(CDK_JSON.read_text())["context"]["hubspoke"])
    assert settings == Settings()


def test_a_first_deploy_watches_no_image_repository():
    # Deploying to try `noop` must arm nothing: no repository is watched until someone names one.
    push = load_settings(json.loads(CDK_JSON.read_text())["context"]["hubspoke"]).image_push
    assert (push.repositories, push.repository_prefixes) == ([], [])


def test_seed_retry_numbers_are_the_defaults():
    retry = Settings().retry
    assert (retry.lambda_service.interval_seconds, retry.lambda_service.backoff_rate) == (2, 2.0)
    assert retry.lambda_service.max_attempts == 6
    assert (retry.rate_limit.interval_seconds, retry.rate_limit.max_attempts, retry.rate_limit.jitter) == (1, 5, "FULL")
    assert retry.rate_limit.max_delay_seconds == 60
    assert (retry.transient.interval_seconds, retry.transient.backoff_rate, retry.transient.max_attempts) == (
        30,
        2.0,
        3,
    )


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"max_concurrency": 0}, "hubspoke.max_concurrency"),
        ({"max_concurrency": 10001}, "hubspoke.max_concurrency"),
        ({"max_concurrency": "10"}, "hubspoke.max_concurrency"),
        ({"spoke_timeout_seconds": 891}, "hubspoke.spoke_timeout_seconds"),
        ({"failure_threshold_percent": -1}, "hubspoke.failure_threshold_percent"),
        ({"failure_threshold_percent": 101}, "hubspoke.failure_threshold_percent"),
        ({"ledger_ttl_days": 0}, "hubspoke.ledger_ttl_days"),
        ({"log_retention_days": 2}, "hubspoke.log_retention_days"),
        ({"max_concurency": 5}, "hubspoke.max_concurency"),
        (
            {"retry": {"rate_limit": {"interval_seconds": 0, "backoff_rate": 2.0, "max_attempts": 5}}},
            "hubspoke.retry.rate_limit.interval_seconds",
        ),
        (
            {"retry": {"transient": {"interval_seconds": 30, "backoff_rate": 0.5, "max_attempts": 3}}},
            "hubspoke.retry.transient.backoff_rate",
        ),
        (
            {
                "retry": {
                    "rate_limit": {"interval_seconds": 1, "backoff_rate": 2.0, "max_attempts": 5, "jitter": "HALF"}
                }
            },
            "hubspoke.retry.rate_limit.jitter",
        ),
        ({"removal_policy": "delete"}, "hubspoke.removal_policy"),
        ({"github": {"api_url": "http://ghe.example.com"}}, "hubspoke.github.api_url: Value error, must be https"),
        ({"github": {"api_url": "ghe.example.com"}}, "hubspoke.github.api_url"),
        ({"github": {"token_secret_name": "has space"}}, "hubspoke.github.token_secret_name"),
        ({"github": {"max_concurrency": 0}}, "hubspoke.github.max_concurrency"),
        ({"retry": {"rate_limit_max_waits": -1}}, "hubspoke.retry.rate_limit_max_waits"),
        ({"image_push": {"accounts": ["21098765432"]}}, "hubspoke.image_push.accounts.0"),
        ({"image_push": {"regions": ["Europe"]}}, "hubspoke.image_push.regions.0"),
        ({"max_total_concurrency": 0}, "hubspoke.max_total_concurrency"),
        ({"max_total_concurrency": "50"}, "hubspoke.max_total_concurrency"),
        (
            {"max_total_concurrency": 8},
            "hubspoke: Value error, max_concurrency (10) must not exceed max_total_concurrency (8)",
        ),
        (
            {"max_total_concurrency": 8, "max_concurrency": 8, "github": {"max_concurrency": 9}},
            "hubspoke: Value error, github.max_concurrency (9) must not exceed max_total_concurrency (8)",
        ),
        (
            {"image_push": {"accounts": ["210987654321"]}, "cross_account": {"accounts": ["345678901234"]}},
            "hubspoke: Value error, image_push.accounts 210987654321 not in cross_account.accounts",
        ),
        (
            {"image_push": {"eks_clusters": ["*"]}},
            "hubspoke: Value error, image_push.eks_clusters needs image_push.accounts",
        ),
        (
            {"image_push": {"eks_clusters": ["prod/eu"], "accounts": ["210987654321"]}},
            "hubspoke.image_push.eks_clusters.0",
        ),
    ],
)
def test_bad_setting_names_its_key(context, key):
    with pytest.raises(SettingsError) as err:
        load_settings(context)
    assert f"cdk.json context {key}" in str(err.value)


def test_the_ceiling_for_all_runs_is_off_by_default_and_may_equal_a_runs_concurrency():
    # No reservation unless asked: reserving takes concurrency from every other function of the account.
    assert Settings().max_total_concurrency is None
    settings = load_settings({"max_total_concurrency": 10, "max_concurrency": 10})
    assert (settings.max_total_concurrency, settings.max_concurrency) == (10, 10)


def test_context_must_be_an_object():
    with pytest.raises(SettingsError, match="must be an object"):
        load_settings(["max_concurrency", 5])


def test_missing_context_means_defaults():
    assert load_settings(None) == Settings()


def test_http_is_allowed_for_a_local_github_server_only():
    assert load_settings({"github": {"api_url": "http://127.0.0.1:8765/"}}).github.api_url == "http://127.0.0.1:8765"
    assert load_settings({"github": {"api_url": "https://ghe.example.com/api/v3"}}).github.api_url.endswith("/v3")


def _keys(model: object, prefix: str = "") -> list[str]:
    from pydantic import BaseModel

    from stacks.settings import RetryPolicy

    keys = []
    for name in type(model).model_fields:  # type: ignore[attr-defined]
        value = getattr(model, name)
        if isinstance(value, BaseModel) and not isinstance(value, RetryPolicy):
            keys += _keys(value, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_setting_is_in_the_documented_configuration_table():
    # The README keeps the most-used keys and links to the full table in docs/deployment.md: every key is there,
    # and every key the README names is a real one.
    keys = _keys(Settings())
    deployment = (CDK_JSON.parent / "docs" / "deployment.md").read_text()
    start = deployment.index("## Configuration: every key")
    table = deployment[start : deployment.index("\n## ", start)]
    assert [key for key in keys if f"| `{key}` |" not in table] == []
    readme = (CDK_JSON.parent / "README.md").read_text()
    start = readme.index("## Configuration")
    named = re.findall(r"^\| `([a-z_.]+)` \|", readme[start : readme.index("\n## ", start)], re.M)
    assert named
    assert set(named) <= set(keys)
