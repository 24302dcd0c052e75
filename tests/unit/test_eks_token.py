"""EKS bearer tokens as `aws eks get-token` makes them, and their lifetime in a container's cache."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from devtools.kubernetes.auth import Refused, moto_credentials, verify
from shared.eks_token import TokenCache, decode_token, make_token


@pytest.fixture
def sts() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sts", region_name="eu-west-1")


def test_a_token_is_a_presigned_get_caller_identity_url_in_base64url(sts):
    token = make_token(sts, "prod-a")
    assert token.startswith("k8s-aws-v1.")
    body = token.removeprefix("k8s-aws-v1.")
    assert "=" not in body  # padding stripped, as the CLI does
    url = urlsplit(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert query["X-Amz-Credential"].split("/")[2:] == ["eu-west-1", "sts", "aws4_request"]
    # The cluster name is a signed header, not a query parameter
    assert "x-k8s-aws-id" not in query
    assert decode_token(token) == url.geturl()


def test_the_signature_covers_the_cluster_name(sts):
    token = make_token(sts, "prod-a")
    assert verify(token, "prod-a", moto_credentials()).account == "123456789012"
    with pytest.raises(Refused, match="signature does not match"):
        verify(token, "prod-b", moto_credentials())


def test_the_token_is_signed_under_the_target_accounts_role(sts):
    creds = sts.assume_role(RoleArn="arn:aws:iam::210987654321:role/hubspoke-target", RoleSessionName="hs")
    c = creds["Credentials"]
    target_sts = boto3.client(
        "sts",
        region_name="eu-west-1",
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )
    token = make_token(target_sts, "prod-a")
    query = parse_qs(urlsplit(decode_token(token)).query)
    assert query["X-Amz-Credential"][0].startswith(c["AccessKeyId"] + "/")
    assert query["X-Amz-Security-Token"] == [c["SessionToken"]]
    assert verify(token, "prod-a", moto_credentials()).account == "210987654321"


def test_a_token_is_reused_for_ten_minutes_then_renewed(sts):
    now = [1000.0]
    cache = TokenCache(now=lambda: now[0])
    first = cache.token("210987654321", "eu-west-1", "prod-a", lambda: sts)
    now[0] += 599
    assert cache.token("210987654321", "eu-west-1", "prod-a", lambda: sts) == first
    assert cache.signed == 1
    now[0] += 1  # 600 s old: renewed, 5 minutes before EKS stops taking it
    cache.token("210987654321", "eu-west-1", "prod-a", lambda: sts)
    assert cache.signed == 2


def test_tokens_are_per_account_region_and_cluster(sts):
    cache = TokenCache(now=lambda: 0.0)
    for key in (("1", "eu-west-1", "a"), ("1", "eu-west-1", "b"), ("2", "eu-west-1", "a"), ("1", "us-west-2", "a")):
        cache.token(*key, lambda: sts)
    cache.token("1", "eu-west-1", "a", lambda: sts)
    assert cache.signed == 4


def test_a_refused_token_is_forgotten(sts):
    cache = TokenCache(now=lambda: 0.0)
    cache.token("1", "eu-west-1", "a", lambda: sts)
    cache.forget("1", "eu-west-1", "a")
    cache.token("1", "eu-west-1", "a", lambda: sts)
    assert cache.signed == 2
