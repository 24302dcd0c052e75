"""EKS bearer tokens, made as `aws eks get-token` makes them, and cached per (account, region, cluster).

A token is `k8s-aws-v1.` + base64url (no padding) of a presigned STS GetCallerIdentity URL whose signature
covers the header `x-k8s-aws-id: <cluster name>`; the URL's X-Amz-Expires is 60 s. EKS checks the signature
date, not X-Amz-Expires, and accepts a token for about 15 minutes after it was signed (`aws eks get-token`
reports an expirationTimestamp 14 minutes ahead). Presigning makes no call: STS is only asked by EKS.

Lifetime: a spoke reuses the token of its (account, region, cluster) while it is younger than RENEW_SECONDS
(10 minutes), so a token in use always has five minutes of life left; older, a new one is signed. The clock
is injectable (tests) and counts simulated seconds in the local engine (shared.clock).
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shared import caches, clock

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - the token format's prefix, not a secret
CLUSTER_ID_HEADER = "x-k8s-aws-id"
URL_EXPIRES_SECONDS = 60
_STS_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
# EKS's acceptance window is ~15 min from the signature; renewing at 10 leaves 5 for the calls in flight.
TOKEN_LIFETIME_SECONDS = 15 * 60
RENEW_SECONDS = 10 * 60


def _retrieve_cluster_id(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # Not an STS parameter: moved aside before botocore validates the call, put back as a header before signing.
    if CLUSTER_ID_HEADER in params:
        context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)


def _inject_cluster_id(request: Any, **_: Any) -> None:
    if CLUSTER_ID_HEADER in request.context:
        request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]


def _sign_for_sts_itself(request: Any, region: str, **_: Any) -> None:
    # EKS hands the token's URL to STS and takes only an STS host (sts.amazonaws.com or sts.<region>...): a client
    # whose endpoint is overridden (AWS_ENDPOINT_URL: a VPC endpoint's DNS name, the local engine's loopback) must
    # still sign for the STS host, as `aws eks get-token` does. Presigning makes no call, so nothing is sent there.
    url = urlsplit(request.url)
    host = f"sts.{region}.amazonaws.com" + (".cn" if region.startswith("cn-") else "")
    if not _STS_HOST.match(url.hostname or ""):
        request.url = urlunsplit(("https", host, url.path or "/", url.query, ""))


def make_token(sts: Any, cluster: str) -> str:
    """A fresh token for `cluster`, signed with the credentials of the STS client `sts` (the target account's)."""
    events = sts.meta.events
    # unique_id: a cached client gets the handlers once, however many tokens it signs.
    events.register(
        "provide-client-params.sts.GetCallerIdentity", _retrieve_cluster_id, unique_id="hubspoke-k8s-aws-id-params"
    )
    events.register("before-sign.sts.GetCallerIdentity", _inject_cluster_id, unique_id="hubspoke-k8s-aws-id-header")
    events.register(
        "before-sign.sts.GetCallerIdentity",
        partial(_sign_for_sts_itself, region=sts.meta.region_name or "us-east-1"),
        unique_id="hubspoke-k8s-sts-host",
    )
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={CLUSTER_ID_HEADER: cluster}, ExpiresIn=URL_EXPIRES_SECONDS, HttpMethod="GET"
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The presigned URL inside a token ('' when it is not a k8s-aws-v1 token)."""
    if not token.startswith(TOKEN_PREFIX):
        return ""
    body = token[len(TOKEN_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


@dataclass
class _Cached:
    token: str
    signed_at: float


class TokenCache:
    """Tokens by (account, region, cluster), renewed once older than RENEW_SECONDS."""

    def __init__(self, now: Callable[[], float] = clock.monotonic, renew_seconds: float = RENEW_SECONDS) -> None:
        self._now = now
        self._renew = renew_seconds
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], _Cached] = {}
        self.signed = 0  # tokens made (the tests count renewals)

    def token(self, account: str, region: str, cluster: str, sts: Callable[[], Any]) -> str:
        """The cached token for the cluster, or a new one signed by the client `sts()` returns."""
        key = (account, region, cluster)
        with self._lock:
            found = self._tokens.get(key)
            if found is not None and self._now() - found.signed_at < self._renew:
                return found.token
            fresh = _Cached(make_token(sts(), cluster), self._now())
            self._tokens[key] = fresh
            self.signed += 1
            return fresh.token

    def forget(self, account: str, region: str, cluster: str) -> None:
        """Drop a token the cluster refused (the next call signs a new one)."""
        with self._lock:
            self._tokens.pop((account, region, cluster), None)


@caches.register
@cache
def tokens() -> TokenCache:
    """This container's tokens."""
    return TokenCache()
