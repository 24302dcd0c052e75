"""The engine's trust-policy evaluation (adaptation `assume-role-trust`), on documents written here."""

from __future__ import annotations

from typing import Any

from hubspoke.engine.trust import trust_admits

HUB = "123456789012"
SPOKE_ROLE = f"arn:aws:iam::{HUB}:role/hubspoke-spoke"
GATE_ROLE = f"arn:aws:iam::{HUB}:role/hubspoke-gate"


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ADMIT_SPOKE = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{HUB}:root"},
    "Action": "sts:AssumeRole",
    "Condition": {"ArnEquals": {"aws:PrincipalArn": [SPOKE_ROLE]}, "StringEquals": {"sts:ExternalId": "ext-1"}},
}


def test_the_account_principal_narrowed_to_one_role_and_external_id():
    assert trust_admits(trust(ADMIT_SPOKE), SPOKE_ROLE, "ext-1")
    assert not trust_admits(trust(ADMIT_SPOKE), GATE_ROLE, "ext-1")
    assert not trust_admits(trust(ADMIT_SPOKE), SPOKE_ROLE, "ext-2")
    assert not trust_admits(trust(ADMIT_SPOKE), SPOKE_ROLE, None)
    # Another account's role of the same name: the principal is the hub account only.
    assert not trust_admits(trust(ADMIT_SPOKE), "arn:aws:iam::999999999999:role/hubspoke-spoke", "ext-1")


def test_a_role_named_as_principal_and_a_deny_that_wins():
    direct = {"Effect": "Allow", "Principal": {"AWS": [SPOKE_ROLE]}, "Action": ["sts:AssumeRole", "sts:TagSession"]}
    assert trust_admits(trust(direct), SPOKE_ROLE, None)
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:*"}
    assert not trust_admits(trust(direct, deny), SPOKE_ROLE, None)


def test_only_sts_assume_role_and_known_operators_admit():
    other_action = {**ADMIT_SPOKE, "Action": "sts:AssumeRoleWithWebIdentity"}
    assert not trust_admits(trust(other_action), SPOKE_ROLE, "ext-1")
    # An operator the engine does not model refuses rather than admits.
    unknown = {**ADMIT_SPOKE, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    assert not trust_admits(trust(unknown), SPOKE_ROLE, "ext-1")
    assert not trust_admits({}, SPOKE_ROLE, None)
