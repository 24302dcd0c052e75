"""EKS bearer tokens as the cluster checks them: a k8s-aws-v1 token holds a presigned STS GetCallerIdentity URL.

EKS (aws-iam-authenticator) sends the URL to STS with the header `x-k8s-aws-id: <cluster>`: STS accepts it only
if the signature covers that header with that value, so a token made for one cluster is refused by another.
The double does the same without STS: it recomputes the SigV4 query signature with the secret of the URL's
access key (a `Credentials` lookup: moto's, in the tests) and the cluster's name as the header's value.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - the token format's prefix, not a secret
CLUSTER_HEADER = "x-k8s-aws-id"
# EKS accepts a token for 15 minutes from its signature, whatever X-Amz-Expires says (60 s).
TOKEN_MAX_AGE_SECONDS = 15 * 60
_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# An access key id -> (account id, secret access key), or None for a key nobody issued.
Credentials = Callable[[str], "tuple[str, str] | None"]


class Refused(Exception):  # noqa: N818 - the reason a token was refused, not a failure of the double
    """The token is not good for this cluster; the message says why (the double logs it, never the token)."""


@dataclass(frozen=True)
class Caller:
    """Who a good token says is calling."""

    account: str
    access_key_id: str


def presigned_url(token: str) -> str:
    """The URL inside a k8s-aws-v1 token."""
    if not token.startswith(TOKEN_PREFIX):
        raise Refused("not a k8s-aws-v1 token")
    body = token[len(TOKEN_PREFIX) :]
    if "=" in body:
        raise Refused("the token's base64url has padding (aws eks get-token strips it)")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Refused("the token is not base64url") from None


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


def verify(token: str, cluster: str, credentials: Credentials | None, now: float | None = None) -> Caller:
    """The caller of a token presented to `cluster`, or Refused.

    Without `credentials` only the shape is checked (any account); with them, the signature too.
    """
    url = urlsplit(presigned_url(token))
    if url.scheme != "https" or not _HOST.match(url.hostname or "") or url.path not in ("", "/"):
        raise Refused(f"the URL is not an STS endpoint: {url.scheme}://{url.netloc}{url.path}")
    pairs = parse_qsl(url.query, keep_blank_values=True)
    query = dict(pairs)
    if query.get("Action") != "GetCallerIdentity" or query.get("Version") != "2011-06-15":
        raise Refused("the URL is not STS GetCallerIdentity (Action, Version)")
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise Refused("the URL is not SigV4-signed")
    signed_headers = query.get("X-Amz-SignedHeaders", "").split(";")
    if CLUSTER_HEADER not in signed_headers or "host" not in signed_headers:
        raise Refused(f"the signature does not cover {CLUSTER_HEADER}")
    credential = query.get("X-Amz-Credential", "").split("/")
    if len(credential) != 5 or credential[3] != "sts" or credential[4] != "aws4_request":
        raise Refused("X-Amz-Credential is not an STS scope")
    access_key, day, region = credential[0], credential[1], credential[2]
    stamp = query.get("X-Amz-Date", "")
    try:
        signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise Refused("X-Amz-Date is not a SigV4 timestamp") from None
    if now is not None and not -300 <= now - signed_at <= TOKEN_MAX_AGE_SECONDS:
        raise Refused(f"the token was signed {int(now - signed_at)} s ago (EKS takes it for 15 min)")
    if credentials is None:
        return Caller("", access_key)
    found = credentials(access_key)
    if found is None:
        raise Refused("the token's access key is unknown")
    account, secret = found
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(pairs) if k != "X-Amz-Signature")
    header_values = {"host": url.netloc, CLUSTER_HEADER: cluster}
    canonical_headers = "".join(f"{h}:{header_values.get(h, '')}\n" for h in signed_headers)
    canonical = "\n".join(["GET", "/", canonical_query, canonical_headers, ";".join(signed_headers), _EMPTY_SHA256])
    scope = "/".join(credential[1:])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(f"AWS4{secret}".encode(), day), region), "sts"), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
        raise Refused(f"the signature does not match (a token for another cluster than {cluster}?)")
    return Caller(account, access_key)


def moto_credentials(default_account: str = "123456789012") -> Credentials:
    """Credentials as moto issued them: its assumed roles' keys, else the process's own key (moto's default
    account). Imported lazily: the double itself does not need moto."""
    import os

    def lookup(access_key_id: str) -> tuple[str, str] | None:
        from moto.sts.models import sts_backends

        for account in list(sts_backends.keys()):
            for backend in sts_backends[account].values():
                role = backend.get_assumed_role_from_access_key(access_key_id)
                if role is not None:
                    return str(role.account_id), str(role.secret_access_key)
        if access_key_id == os.environ.get("AWS_ACCESS_KEY_ID"):
            return default_account, os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        return None

    return lookup
