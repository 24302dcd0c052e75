"""Credentials for a target in another account: the target account's role, assumed once and reused.

A target that names an `account` (or a `role_arn`) runs under that role, in its `region` if it names one;
every AWS call an operation makes for it goes through `TargetAws.client`. Credentials are cached per
(role, run) in the warm container until shortly before they expire, so a run assumes a role once per account
per container, not once per target. They are never logged, returned or stored: only the clients hold them.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared import caches, clock
from shared.aws import BOTO_CONFIG, client
from shared.config import CrossAccountEnv
from shared.errors import (
    AWS_THROTTLE_CODES,
    CredentialsError,
    RateLimitError,
    TransientError,
    aws_error_code,
    aws_error_message,
)
from shared.observability import lambda_context

# The shortest session AWS grants (DurationSeconds 900) is also the longest a Lambda invocation can run, so no
# session outlives the function that asked for it by much. A cached session is handed out only while it stays
# valid for the rest of the invocation (its remaining time, plus a margin for the clock skew of a call in flight).
SESSION_SECONDS = 900
SKEW_SECONDS = 30
# When no Lambda context says how long the invocation may still run (tests calling the code directly).
DEFAULT_NEEDED_SECONDS = 300
ACCOUNT_PATTERN = re.compile(r"^[0-9]{12}$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}$")
_REFUSALS = {"AccessDenied", "AccessDeniedException", "RegionDisabledException", "ExpiredTokenException"}


@dataclass(frozen=True)
class CrossAccount:
    """The deployment's cross-account settings (shared.config.CrossAccountEnv)."""

    role_name: str
    external_id: str = ""
    accounts: tuple[str, ...] = ()
    partition: str = "aws"

    @classmethod
    def from_env(cls, env: CrossAccountEnv) -> CrossAccount:
        """The settings as the function's environment holds them."""
        return cls(env.cross_account_role_name, env.cross_account_external_id, env.cross_account_accounts)

    def role_arn(self, account: str) -> str:
        """The HubSpoke role in `account`."""
        return f"arn:{self.partition}:iam::{account}:role/{self.role_name}"


@dataclass
class _Session:
    credentials: dict[str, str]
    expires_at: float  # on shared.clock.monotonic()
    clients: dict[tuple[str, str | None], Any] = field(default_factory=dict)


class _Sessions:
    """Assumed-role sessions of this container, by (function, role ARN, run id).

    In Lambda a container runs one function; the function's name in the key keeps that true where several
    functions share a process (the local engine): the spoke never uses a session the hub assumed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str, str], _Session] = {}
        self.assumed = 0  # AssumeRole calls made by this container (the tests count them)

    def session(self, role_arn: str, run_id: str, session_name: str, external_id: str) -> _Session:
        key = (os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), role_arn, run_id)
        needed = _invocation_seconds_left() + SKEW_SECONDS
        with self._lock:
            found = self._sessions.get(key)
            if found is not None and found.expires_at - clock.monotonic() > needed:
                return found
            # Under the lock: spokes of one run in one container wait for a single AssumeRole, not race to it.
            fresh = _Session(_assume(role_arn, session_name, external_id), clock.monotonic() + SESSION_SECONDS)
            self.assumed += 1
            self._sessions[key] = fresh
            return fresh


def _invocation_seconds_left() -> float:
    context = lambda_context.get()
    if context is None:
        return DEFAULT_NEEDED_SECONDS
    return float(context.get_remaining_time_in_millis()) / 1000


@caches.register
@cache
def sessions() -> _Sessions:
    """This container's sessions."""
    return _Sessions()


def _assume(role_arn: str, session_name: str, external_id: str) -> dict[str, str]:
    kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": SESSION_SECONDS}
    if external_id:
        kwargs["ExternalId"] = external_id
    try:
        response = client("sts").assume_role(**kwargs)
    except ClientError as err:
        code, message = aws_error_code(err), aws_error_message(err)
        if code in AWS_THROTTLE_CODES:
            raise RateLimitError(f"assuming {role_arn}: STS throttled the call ({code})") from None
        if code in _REFUSALS:
            raise CredentialsError(
                f"cannot assume {role_arn} ({code}: {message}): deploy stack HubSpokeTargetRole in that account "
                "with this deployment's role ARNs and external id (README: Targets in other accounts)"
            ) from None
        raise TransientError(f"assuming {role_arn}: {code or 'error'}: {message}") from None
    except BotoCoreError as err:
        raise TransientError(f"assuming {role_arn}: {type(err).__name__}") from None
    creds = response["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def session_name(run_id: str, label: str) -> str:
    """RoleSessionName naming the run and the target (CloudTrail shows it): 2-64 of [\\w+=,.@-]."""
    name = re.sub(r"[^\w+=,.@-]", "-", f"hubspoke@{run_id}@{label}")
    return name[:64]


@dataclass(frozen=True)
class TargetAws:
    """AWS clients for one target: under its account's role when it names one, else this function's own."""

    role_arn: str | None
    region: str | None
    run_id: str
    label: str
    external_id: str = ""
    factory: Callable[..., Any] = boto3.client

    def client(self, service: str) -> Any:
        """A client for `service` in the target's account and region."""
        if self.role_arn is None:
            return client(service, self.region)
        session = sessions().session(
            self.role_arn, self.run_id, session_name(self.run_id, self.label), self.external_id
        )
        key = (service, self.region)
        found = session.clients.get(key)
        if found is None:
            found = self.factory(service, region_name=self.region, config=BOTO_CONFIG, **session.credentials)
            session.clients[key] = found
        return found

    @property
    def account(self) -> str | None:
        """The target's account when it is another one (from its role ARN)."""
        if self.role_arn is None:
            return None
        match = ROLE_ARN_PATTERN.match(self.role_arn)
        return match.group(1) if match else None


def role_for(attributes: dict[str, Any], cross: CrossAccount) -> str | None:
    """The role a target runs under: its `role_arn`, else the HubSpoke role in its `account`, else None.

    Raises CredentialsError (fails the target, no retry) for an account the deployment may not reach.
    """
    role_arn = attributes.get("role_arn")
    account = attributes.get("account")
    if role_arn is None and account is None:
        return None
    if role_arn is None:
        role_arn = cross.role_arn(str(account))
    match = ROLE_ARN_PATTERN.match(str(role_arn))
    if match is None:
        raise CredentialsError(f"role_arn {role_arn!r} is not an IAM role ARN")
    if cross.accounts and match.group(1) not in cross.accounts:
        raise CredentialsError(
            f"account {match.group(1)} is not in the deployment's cross_account.accounts ({', '.join(cross.accounts)})"
        )
    return str(role_arn)


def for_target(target_id: str, attributes: dict[str, Any], run_id: str, cross: CrossAccount) -> TargetAws:
    """The clients a spoke uses for one target."""
    region = attributes.get("region")
    return TargetAws(
        role_for(attributes, cross), None if region is None else str(region), run_id, target_id, cross.external_id
    )


def in_account(account: str, region: str, run_id: str, purpose: str, cross: CrossAccount) -> TargetAws:
    """Clients in another account and region (discovery, the image index): the HubSpoke role there."""
    return TargetAws(role_for({"account": account}, cross), region, run_id, purpose, cross.external_id)
