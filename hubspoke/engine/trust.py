"""Adaptation `assume-role-trust`: AssumeRole as STS answers it, not as moto does.

moto's AssumeRole returns credentials for any role ARN, whether the role exists or not, and whoever asks; on AWS
the role must exist and its trust policy must admit the caller (and the ExternalId it names). The engine asks
moto's IAM of the role's account for the role and evaluates its trust policy against the calling function's
role (the function this thread runs), refusing with AccessDenied as STS does.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from hubspoke.engine.patching import patched

ROOT_PRINCIPAL = "arn:aws:iam::{account}:root"
# The functions that assume the HubSpoke role in target accounts (the main stack's TrustedRoleArns output).
TRUSTING_FUNCTIONS = ("hub", "spoke", "indexer")
TARGET_ROLE_STACK = "HubSpokeTargetRole"


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str) -> bool:
    # IAM wildcards (* and ?); fnmatch's [] are not IAM's, so brackets are escaped.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


# The operators a trust policy's conditions may use here; any other refuses (fail closed, as a test would want to
# know): StringEquals/ArnEquals compare exactly, the Like forms (and ArnEquals, which IAM lets take wildcards) glob.
_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": _glob,
    "ArnEquals": _glob,
    "ArnLike": _glob,
}


def _principal_admits(principal: Any, caller_arn: str, caller_account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _listify(principal.get("AWS", [])):
        if value in ("*", caller_arn, caller_account, ROOT_PRINCIPAL.format(account=caller_account)):
            return True
    return False


def _conditions_hold(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        compare = _OPERATORS.get(operator)
        if compare is None:
            return False
        for key, patterns in tests.items():
            value = context.get(key)
            if value is None or not any(compare(str(p), value) for p in _listify(patterns)):
                return False
    return True


def trust_admits(document: dict[str, Any], caller_arn: str, external_id: str | None) -> bool:
    """Whether a role's trust policy lets `caller_arn` (a role, or an account's root) call sts:AssumeRole."""
    caller_account = caller_arn.split(":")[4]
    context = {"aws:PrincipalArn": caller_arn, "aws:PrincipalAccount": caller_account}
    if external_id is not None:
        context["sts:ExternalId"] = external_id

    def matches(statement: dict[str, Any]) -> bool:
        actions = _listify(statement.get("Action", []))
        return (
            any(_glob(a.lower(), "sts:assumerole") for a in actions)
            and _principal_admits(statement.get("Principal"), caller_arn, caller_account)
            and _conditions_hold(statement.get("Condition", {}), context)
        )

    statements = _listify(document.get("Statement", []))
    if any(s.get("Effect") == "Deny" and matches(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and matches(s) for s in statements)


@contextmanager
def enforced(caller: Callable[[], str]) -> Iterator[None]:
    """moto's AssumeRole refuses (AccessDenied) unless the role exists and trusts `caller()`, the ARN of the role
    the calling thread runs as."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    def assume_role(
        self: STSBackend,
        region_name: str,
        role_session_name: str,
        role_arn: str,
        policy: str,
        duration: int,
        external_id: str,
    ) -> Any:
        caller_arn = caller()
        parts = role_arn.split(":")
        role = None
        if len(parts) == 6 and parts[2] == "iam":
            try:
                role = iam_backends[parts[4]][parts[1]].get_role_by_arn(role_arn)
            except NotFoundException:  # STS answers the same AccessDenied for a role that does not exist
                role = None
        stored: Any = {} if role is None else role.assume_role_policy_document
        document: dict[str, Any] = json.loads(stored) if isinstance(stored, str) else dict(stored)
        if role is None or not trust_admits(document, caller_arn, external_id):
            raise STSClientError(
                "AccessDenied",
                f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        return original(self, region_name, role_session_name, role_arn, policy, duration, external_id)

    # STS's service model lists no AccessDenied shape (STS answers it all the same); moto warns on each refusal.
    warnings.filterwarnings(
        "ignore", message=r"Exception\(STSClientError\) with code AccessDenied", category=UserWarning
    )
    added = warnings.filters[0]
    try:
        with patched(STSBackend, "assume_role", assume_role):
            yield
    finally:
        if added in warnings.filters:
            warnings.filters.remove(added)  # type: ignore[attr-defined]  # a list at runtime


def checked_kinds(trusts: Iterable[str]) -> list[str]:
    """The functions a target role is to trust, each one of TRUSTING_FUNCTIONS."""
    kinds = list(trusts)
    unknown = sorted(set(kinds) - set(TRUSTING_FUNCTIONS))
    if unknown:
        raise ValueError(f"trusts: {', '.join(unknown)} is not one of {', '.join(TRUSTING_FUNCTIONS)}")
    return kinds


def deploy_target_role(template: dict[str, Any], account_id: str, trusted: list[str], external_id: str) -> str:
    """Deploy stack HubSpokeTargetRole (`template`, as synthesized) into `account_id` through moto's CloudFormation
    there, trusting those roles of this account with the deployment's external id, as a user deploys it (README:
    Targets in other accounts). Returns the role's ARN."""
    from hubspoke.engine.provision import ACCOUNT, REGION
    from hubspoke.world import moto_client

    parameters = {"HubAccountId": ACCOUNT, "TrustedRoleArns": ",".join(trusted)}
    if "ExternalId" in template.get("Parameters", {}):
        parameters["ExternalId"] = external_id
    cloudformation = moto_client("cloudformation", REGION, account_id)  # moto's multi-account: the stack lives there
    cloudformation.create_stack(
        StackName=TARGET_ROLE_STACK,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (role,) = template["Resources"].values()
    return f"arn:aws:iam::{account_id}:role/{role['Properties']['RoleName']}"
