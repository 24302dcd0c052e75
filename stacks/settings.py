"""Deployment settings: parsed once from the `hubspoke` object in cdk.json context, validated, typed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONTEXT_KEY = "hubspoke"
# Room in the Spoke task's timeout besides an ecs-restart rollout wait (lambdas/spoke/operations/ecs_restart.py
# has the same number; a test keeps them in step).
STEADY_MARGIN_SECONDS = 30

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class SettingsError(ValueError):
    """A cdk.json setting is invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RetryPolicy(_Strict):
    """One Step Functions Retry entry. `max_attempts` counts retries after the first attempt (ASL)."""

    interval_seconds: int = Field(ge=1, le=99999999)
    backoff_rate: float = Field(ge=1.0, le=10.0)
    max_attempts: int = Field(ge=0, le=99999999)
    max_delay_seconds: int | None = Field(default=None, ge=1, le=31622400)
    jitter: Literal["FULL", "NONE"] = "NONE"


class RetrySettings(_Strict):
    """The three retry policies of the spoke task (the seed's numbers by default)."""

    lambda_service: RetryPolicy = RetryPolicy(interval_seconds=2, backoff_rate=2.0, max_attempts=6)
    rate_limit: RetryPolicy = RetryPolicy(
        interval_seconds=1, backoff_rate=2.0, max_attempts=5, max_delay_seconds=60, jitter="FULL"
    )
    transient: RetryPolicy = RetryPolicy(interval_seconds=30, backoff_rate=2.0, max_attempts=3)
    # After its Retry attempts, a RateLimitError that says "retry after N s: ..." is waited out in a Wait state
    # (N up to this, GitHub's primary window is an hour) and the target tried again, this many times at most.
    rate_limit_max_wait_seconds: int = Field(default=3900, ge=1, le=86400)
    rate_limit_max_waits: int = Field(default=3, ge=0, le=100)


class MonitoringSettings(_Strict):
    """Alarm thresholds and where alarms go."""

    namespace: str = Field(default="HubSpoke", pattern=r"^[A-Za-z0-9._/#:-]{1,255}$")
    period_minutes: int = Field(default=5, ge=1, le=1440)
    spoke_failure_rate_percent: float = Field(default=10.0, ge=0.0, le=100.0)
    max_run_minutes: int = Field(default=240, ge=1, le=525600)
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ImagePushSettings(_Strict):
    """The ECR image-push trigger: which repositories, which clusters, how fresh the image index must be."""

    repositories: list[str] = Field(default_factory=list)
    repository_prefixes: list[str] = Field(default_factory=list)
    # Clusters the indexer scans and the spoke may restart services in; empty means every cluster.
    clusters: list[str] = Field(default_factory=list)
    # Other accounts whose services run the images too: the indexer and the live scan cover each of them in each
    # of `regions` (empty: this deployment's region) through the cross_account role, besides this account.
    accounts: list[Annotated[str, Field(pattern=r"^[0-9]{12}$")]] = Field(default_factory=list)
    regions: list[Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]] = Field(default_factory=list)
    # EKS clusters (shell-style name patterns, "*" for all) in `accounts` x `regions` whose Kubernetes workloads run
    # the images too: indexed with the services, and a push restarts them (k8s-rollout-restart, a run of its own).
    eks_clusters: list[Annotated[str, Field(pattern=r"^[0-9A-Za-z_*?\[\]!-]{1,100}$")]] = Field(default_factory=list)
    index_schedule_minutes: int = Field(default=15, ge=1, le=1440)
    index_max_age_minutes: int = Field(default=60, ge=1, le=10080)
    idempotency_hours: int = Field(default=24, ge=1, le=720)
    wait_for_steady: bool = False
    steady_timeout_seconds: int = Field(default=240, ge=10, le=3600)


class GitHubSettings(_Strict):
    """Where the GitHub operations and the github-org source talk to, and how gently."""

    # https://api.github.com, or GitHub Enterprise Server's https://HOST/api/v3. A deployment setting, never a
    # run parameter: whoever can start a run must not be able to send the token somewhere else.
    api_url: str = Field(default="https://api.github.com", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # A Secrets Manager secret whose SecretString is the token (a fine-grained PAT or an installation token).
    token_secret_name: str = Field(default="hubspoke/github-token", pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")
    # GitHub asks for serial mutations: a run of a GitHub operation without max_concurrency gets this.
    max_concurrency: int = Field(default=2, ge=1, le=100)
    # A secondary-limit answer with retry-after up to this many seconds is waited out in the spoke (once or
    # twice per request); longer ones become RateLimitError for the state machine's Retry.
    inline_retry_after_max_seconds: int = Field(default=10, ge=0, le=60)
    request_timeout_seconds: int = Field(default=20, ge=1, le=120)

    @field_validator("api_url")
    @classmethod
    def _token_only_over_tls(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("must be https: the token travels with every request (http only for 127.0.0.1)")
        return value.rstrip("/")


class CrossAccountSettings(_Strict):
    """Targets in other accounts: the role each target account holds for HubSpoke (stack HubSpokeTargetRole).

    A target with an `account` (or a `role_arn`) runs under that role; one without runs in this account.
    """

    # The role's name in every target account: arn:aws:iam::<account>:role/<role_name>.
    role_name: str = Field(default="hubspoke-target", pattern=r"^[\w+=,.@-]{1,64}$")
    # Given to sts:AssumeRole; the target role trusts only requests that carry it (the confused-deputy guard).
    external_id: str | None = Field(default=None, min_length=2, max_length=1224, pattern=r"^[\w+=,.@:/-]+$")
    # The only accounts HubSpoke may assume the role in (empty: any account, within organization_id if set).
    accounts: list[Annotated[str, Field(pattern=r"^[0-9]{12}$")]] = Field(default_factory=list)
    # Only roles of accounts in this AWS Organization (condition aws:ResourceOrgID on sts:AssumeRole).
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")


class Settings(_Strict):
    """Everything a deployment can tune. Per-run overrides travel in the run request instead."""

    max_concurrency: int = Field(default=10, ge=1, le=10000)
    # The ceiling for all runs together: the spoke function's reserved concurrency (None: no reservation, each
    # run bounded by its own max_concurrency only). Lambda keeps 100 of the account's concurrency unreserved,
    # so a deploy fails unless the account's limit is at least this plus 100.
    max_total_concurrency: int | None = Field(default=None, ge=1, le=1_000_000)
    # Task timeouts; each Lambda's own timeout is 10 s longer (at most 900), so these are at most 890.
    spoke_timeout_seconds: int = Field(default=300, ge=1, le=890)
    hub_timeout_seconds: int = Field(default=300, ge=10, le=890)
    summarize_timeout_seconds: int = Field(default=300, ge=10, le=890)
    run_timeout_hours: int = Field(default=24, ge=1, le=8760)
    lambda_memory_mb: int = Field(default=512, ge=128, le=10240)
    retry: RetrySettings = RetrySettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    image_push: ImagePushSettings = ImagePushSettings()
    github: GitHubSettings = GitHubSettings()
    cross_account: CrossAccountSettings = CrossAccountSettings()
    failure_threshold_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    ledger_ttl_days: int = Field(default=30, ge=1, le=3650)
    log_retention_days: int = 30
    removal_policy: Literal["retain", "destroy"] = "retain"
    # Buckets (besides our own inputs/ prefix) the hub may read s3-manifest target lists from.
    manifest_source_buckets: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rollout_wait_fits_in_the_spoke(self) -> Settings:
        # The spoke waits for the rollout inside its own task: a longer wait fails every target States.Timeout.
        limit = self.spoke_timeout_seconds - STEADY_MARGIN_SECONDS
        push = self.image_push
        if push.wait_for_steady and push.steady_timeout_seconds > limit:
            raise ValueError(
                f"image_push.steady_timeout_seconds ({push.steady_timeout_seconds}) must fit in spoke_timeout_seconds "
                f"({self.spoke_timeout_seconds}) less {STEADY_MARGIN_SECONDS} s for the restart: at most {limit}, "
                "or raise spoke_timeout_seconds"
            )
        return self

    @model_validator(mode="after")
    def _runs_fit_under_the_ceiling(self) -> Settings:
        # A run's default concurrency above the ceiling could never be reached: its extra spokes would only be
        # throttled and retried. The hub refuses a run request asking for more in the same way.
        ceiling = self.max_total_concurrency
        if ceiling is None:
            return self
        for key, value in (
            ("max_concurrency", self.max_concurrency),
            ("github.max_concurrency", self.github.max_concurrency),
        ):
            if value > ceiling:
                raise ValueError(
                    f"{key} ({value}) must not exceed max_total_concurrency ({ceiling}), the ceiling for all runs "
                    "together: lower it, or raise max_total_concurrency"
                )
        return self

    @model_validator(mode="after")
    def _eks_clusters_have_accounts(self) -> Settings:
        # EKS clusters are read through the target role of each listed account (its access entry): the deployment's
        # own account too is reached that way, so it must be listed.
        if self.image_push.eks_clusters and not self.image_push.accounts:
            raise ValueError(
                "image_push.eks_clusters needs image_push.accounts: the EKS clusters are read through the HubSpoke "
                "target role of each listed account (list this deployment's own account too if its clusters count)"
            )
        return self

    @model_validator(mode="after")
    def _image_push_accounts_are_reachable(self) -> Settings:
        # The role may be assumed only in cross_account.accounts when it lists any: another account would fail
        # every scan of it with CredentialsError, so say so at synth instead.
        allowed = self.cross_account.accounts
        outside = [a for a in self.image_push.accounts if allowed and a not in allowed]
        if outside:
            raise ValueError(
                f"image_push.accounts {', '.join(outside)} not in cross_account.accounts ({', '.join(allowed)}): "
                "HubSpoke may not assume its role there"
            )
        return self

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_allowed(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))} (CloudWatch Logs)")
        return value


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        key = f"{CONTEXT_KEY}.{loc}" if loc else CONTEXT_KEY
        lines.append(f"cdk.json context {key}: {e['msg']}")
    return "\n".join(lines)


def load_settings(context: Any) -> Settings:
    """Validate the `hubspoke` context object; raise SettingsError naming every bad key."""
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise SettingsError(f"cdk.json context {CONTEXT_KEY}: must be an object, got {type(context).__name__}")
    try:
        return Settings.model_validate(context)
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None
