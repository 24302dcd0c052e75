"""Per-target credentials on moto: the role's account is where the calls land, one AssumeRole per (role, run)
per container, and targets that name no account keep the function's own credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from pydantic import ValidationError

from shared import caches, credentials
from shared.credentials import CrossAccount, for_target, in_account, role_for, session_name
from shared.errors import CredentialsError, RateLimitError, TransientError
from shared.models import Target

CROSS = CrossAccount(role_name="hubspoke-target", external_id="ext-4471")


@pytest.fixture
def aws() -> Iterator[None]:
    caches.reset_all()
    with mock_aws():
        yield
    caches.reset_all()


def cluster_arn(target: credentials.TargetAws, name: str) -> str:
    arn: str = target.client("ecs").create_cluster(clusterName=name)["cluster"]["clusterArn"]
    return arn


def test_calls_for_a_target_land_in_its_account_and_region(aws: Any) -> None:
    target = for_target("a/b", {"account": "210987654321", "region": "eu-west-1"}, "run-1", CROSS)
    assert cluster_arn(target, "prod-a") == "arn:aws:ecs:eu-west-1:210987654321:cluster/prod-a"
    # The same account's other region is another place; the hub's own account does not see either.
    elsewhere = for_target("a/c", {"account": "210987654321", "region": "ap-south-1"}, "run-1", CROSS)
    assert elsewhere.client("ecs").list_clusters()["clusterArns"] == []
    assert for_target("own", {}, "run-1", CROSS).client("ecs").list_clusters()["clusterArns"] == []


def test_one_assume_role_per_role_and_run_per_container(aws: Any) -> None:
    for n in range(7):
        for_target(f"t{n}", {"account": "210987654321", "region": "eu-west-1"}, "run-1", CROSS).client("ecs")
    for n in range(3):
        for_target(f"u{n}", {"account": "310987654321", "region": "eu-west-1"}, "run-1", CROSS).client("ecs")
    assert credentials.sessions().assumed == 2
    for_target("t0", {"account": "210987654321", "region": "eu-west-1"}, "run-2", CROSS).client("ecs")
    assert credentials.sessions().assumed == 3


def test_a_target_without_account_never_assumes(aws: Any) -> None:
    for_target("plain", {"cluster": "x"}, "run-1", CROSS).client("ecs").list_clusters()
    assert credentials.sessions().assumed == 0


def test_role_arn_wins_over_account_and_the_default_role_name_needs_only_the_account() -> None:
    assert role_for({"account": "210987654321"}, CROSS) == "arn:aws:iam::210987654321:role/hubspoke-target"
    given = "arn:aws:iam::310987654321:role/ops/fleet-runner"
    assert role_for({"account": "210987654321", "role_arn": given}, CROSS) == given
    assert role_for({"cluster": "x"}, CROSS) is None


def test_an_account_outside_the_allowed_list_fails_the_target_without_calling_sts() -> None:
    narrow = CrossAccount(role_name="hubspoke-target", accounts=("210987654321",))
    with pytest.raises(CredentialsError, match=r"account 999999999999 is not in the deployment's cross_account"):
        role_for({"account": "999999999999"}, narrow)


def test_session_names_name_the_run_and_target_within_sts_limits() -> None:
    assert session_name("run-1", "111122223333/eu-west-1/prod a") == "hubspoke@run-1@111122223333-eu-west-1-prod-a"
    assert len(session_name("r" * 80, "t" * 200)) == 64


def test_discovery_clients_use_the_role_in_the_account(aws: Any) -> None:
    where = in_account("410987654321", "us-west-2", "run-1", "ecs-clusters", CROSS)
    assert where.account == "410987654321"
    assert cluster_arn(where, "c") == "arn:aws:ecs:us-west-2:410987654321:cluster/c"


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"account": "12345"}, "account"),
        ({"account": 123456789012}, "account"),
        ({"region": "Europe"}, "region"),
        ({"role_arn": "arn:aws:iam::123456789012:user/bob"}, "role_arn"),
    ],
)
def test_a_malformed_where_attribute_is_refused_naming_it(attributes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=rf"{field}: "):
        Target.model_validate({"id": "t", **attributes})


def sts_answers(code: str) -> Any:
    """STS as it answers when it refuses or throttles (moto never does): the error, before any request is sent."""
    from botocore.exceptions import ClientError

    def answer(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"{code} from STS"}}, "AssumeRole")

    from shared.aws import client

    sts = client("sts")
    sts.meta.events.register("before-call.sts.AssumeRole", answer)
    return answer


@pytest.mark.parametrize(
    ("code", "error", "retried"),
    [
        ("AccessDenied", CredentialsError, False),
        ("RegionDisabledException", CredentialsError, False),
        ("Throttling", RateLimitError, True),
        ("InternalFailure", TransientError, True),
    ],
)
def test_sts_refusals_fail_the_target_and_throttling_is_retried(
    aws: Any, code: str, error: type, retried: bool
) -> None:
    from shared.errors import RETRYABLE_ERRORS

    sts_answers(code)
    target = for_target("t", {"account": "210987654321", "region": "eu-west-1"}, "run-1", CROSS)
    with pytest.raises(error) as raised:
        target.client("ecs")
    assert "arn:aws:iam::210987654321:role/hubspoke-target" in str(raised.value)
    assert (type(raised.value).__name__ in RETRYABLE_ERRORS) is retried
    assert credentials.sessions().assumed == 0  # nothing cached: the next target asks STS again
