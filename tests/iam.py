"""IAM as AWS evaluates it, for tests: the synthesized template's policies with intrinsics resolved to
plausible ARNs (account 123456789012, us-east-1), and a small evaluator of identity-policy statements
(Allow only; action and resource wildcards; the condition operators our policies use).

Names follow the local engine (hubspoke/engine/provision.py), so calls recorded in a local run name the same
resources as the resolved policies: the ledger `hubspoke-ledger`, other tables `hubspoke-<logical id>`,
the bucket `hubspoke-local`, functions by logical id, the state machine `HubSpoke`.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hubspoke.cfn import Resolver

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STATE_MACHINE_NAME = "HubSpoke"
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class _SubResolver(Resolver):
    """The engine's resolver plus Fn::Sub (the template may grow one; parliament must see a string)."""

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value:
            arg = value["Fn::Sub"]
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return str(variables[name])
                if "." in name:
                    return str(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
                return str(self.resolve({"Ref": name}))

            return _SUB.sub(one, text)
        return super().resolve(value)


def _arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def plausible_resolver(template: dict[str, Any], parameters: dict[str, Any] | None = None) -> Resolver:
    """Ref/GetAtt values for every resource of the template, shaped as AWS returns them; `parameters` gives
    values to the template's parameters (else their defaults)."""
    refs: dict[str, Any] = {
        "AWS::Partition": PARTITION,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "HubSpoke",
        "AWS::NoValue": None,
    }
    attrs: dict[tuple[str, str], Any] = {}
    outputs = template.get("Outputs", {})
    ledger = outputs.get("LedgerTableName", {}).get("Value", {}).get("Ref")
    bucket = outputs.get("BucketName", {}).get("Value", {}).get("Ref")
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        name = f"hubspoke-{logical_id.lower()}"
        if kind == "AWS::DynamoDB::Table":
            name = "hubspoke-ledger" if logical_id == ledger else name
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = _arn("dynamodb", f"table/{name}")
        elif kind == "AWS::S3::Bucket":
            name = "hubspoke-local" if logical_id == bucket else f"hubspoke-local-{logical_id.lower()}"
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:{PARTITION}:s3:::{name}"
        elif kind == "AWS::Lambda::Function":
            refs[logical_id] = logical_id
            attrs[(logical_id, "Arn")] = _arn("lambda", f"function:{logical_id}")
        elif kind == "AWS::SQS::Queue":
            refs[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            attrs[(logical_id, "Arn")] = _arn("sqs", name)
            attrs[(logical_id, "QueueName")] = name
        elif kind == "AWS::SNS::Topic":
            refs[logical_id] = attrs[(logical_id, "TopicArn")] = _arn("sns", name)
            attrs[(logical_id, "TopicName")] = name
        elif kind == "AWS::StepFunctions::StateMachine":
            refs[logical_id] = attrs[(logical_id, "Arn")] = _arn("states", f"stateMachine:{STATE_MACHINE_NAME}")
            attrs[(logical_id, "Name")] = STATE_MACHINE_NAME
        elif kind == "AWS::Logs::LogGroup":
            refs[logical_id] = f"/hubspoke/{logical_id}"
            attrs[(logical_id, "Arn")] = _arn("logs", f"log-group:/hubspoke/{logical_id}:*")
        elif kind == "AWS::IAM::Role":
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"
        elif kind == "AWS::Events::Rule":
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = _arn("events", f"rule/{name}")
        elif kind == "AWS::CloudWatch::Alarm":
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = _arn("cloudwatch", f"alarm:{name}")
        elif kind == "AWS::KMS::Key":
            key_id = f"00000000-0000-4000-8000-{zlib.crc32(logical_id.encode()):012d}"
            refs[logical_id] = key_id
            attrs[(logical_id, "Arn")] = _arn("kms", f"key/{key_id}")
            attrs[(logical_id, "KeyId")] = key_id
        elif kind == "AWS::SSM::Parameter::Value<String>":
            refs[logical_id] = "value"
        else:
            refs[logical_id] = name
    for parameter, spec in template.get("Parameters", {}).items():
        # SSM parameter values (the Powertools layer ARN) resolve at deploy time; a plausible value here.
        refs[parameter] = spec.get("Default", "value")
    refs.update(parameters or {})
    return _SubResolver(refs, attrs)


@dataclass(frozen=True)
class PolicyDocument:
    """One policy document of the template: where it is, what kind, and the resolved JSON."""

    logical_id: str
    kind: str  # identity | trust | resource
    document: dict[str, Any]
    roles: tuple[str, ...] = ()  # identity policies: the role logical ids they attach to


def policy_documents(template: dict[str, Any], parameters: dict[str, Any] | None = None) -> list[PolicyDocument]:
    """Every IAM policy document of the template (identity, role trust, resource policies), resolved."""
    resolver = plausible_resolver(template, parameters)
    found: list[PolicyDocument] = []
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = tuple(r["Ref"] for r in props.get("Roles", []) if isinstance(r, dict) and "Ref" in r)
            found.append(PolicyDocument(logical_id, "identity", resolver.resolve(props["PolicyDocument"]), roles))
        elif kind == "AWS::IAM::Role":
            found.append(PolicyDocument(logical_id, "trust", resolver.resolve(props["AssumeRolePolicyDocument"])))
            for inline in props.get("Policies", []):
                found.append(
                    PolicyDocument(
                        f"{logical_id}/{inline['PolicyName']}",
                        "identity",
                        resolver.resolve(inline["PolicyDocument"]),
                        (logical_id,),
                    )
                )
        elif kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            found.append(PolicyDocument(logical_id, "resource", resolver.resolve(props["PolicyDocument"])))
    return found


def function_statements(template: dict[str, Any], handler_prefix: str) -> list[dict[str, Any]]:
    """The resolved identity-policy statements of the role of the function whose handler starts so."""
    (role,) = [
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in template["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function" and f["Properties"]["Handler"].startswith(handler_prefix)
    ]
    statements: list[dict[str, Any]] = []
    for doc in policy_documents(template):
        if doc.kind == "identity" and role in doc.roles:
            raw = doc.document["Statement"]
            statements.extend(raw if isinstance(raw, list) else [raw])
    return statements


@cache
def _iam_definition() -> dict[str, dict[str, Any]]:
    import parliament

    path = os.path.join(os.path.dirname(parliament.__file__), "iam_definition.json")
    with open(path, encoding="utf-8") as handle:
        return {svc["prefix"]: svc for svc in json.load(handle)}


def resource_types(action: str) -> list[str]:
    """The resource types an action is authorized on (Service Authorization Reference, as parliament ships
    it); an empty list means none: the action is authorized on `*`."""
    prefix, name = action.split(":", 1)
    for privilege in _iam_definition()[prefix]["privileges"]:
        if privilege["privilege"].lower() == name.lower():
            return [r["resource_type"].rstrip("*") for r in privilege["resource_types"] if r["resource_type"]]
    raise KeyError(f"unknown action {action}")


@dataclass(frozen=True)
class Call:
    """One AWS request as IAM authorizes it: the action, the resource(s), the request's condition keys."""

    action: str
    resources: tuple[str, ...]
    context: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.action, self.resources, tuple(sorted(self.context.items()))))


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=0 if case else re.IGNORECASE) is not None


_OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": _glob,
    "ArnEquals": _glob,  # ArnEquals and ArnLike both take wildcards in each ARN segment
    "ArnLike": _glob,
}


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        if operator not in _OPERATORS:
            raise AssertionError(f"condition operator {operator} is not modelled here; add it")
        for key, patterns in tests.items():
            value = context.get(key)
            if value is None or not any(_OPERATORS[operator](str(p), value) for p in _listify(patterns)):
                return False
    return True


def allows(statements: list[dict[str, Any]], call: Call) -> bool:
    """True when an Allow statement grants the call on every resource it names and no Deny matches.

    The evaluation IAM makes for one principal's identity policies: action glob (case-insensitive), resource
    glob, and every condition operator of the statement satisfied by the request's context.
    """

    def matches(statement: dict[str, Any], resource: str) -> bool:
        actions = _listify(statement.get("Action", []))
        if not any(_glob(a, call.action, case=False) for a in actions):
            return False
        if not any(_glob(r, resource) for r in _listify(statement.get("Resource", []))):
            return False
        return _condition_holds(statement.get("Condition", {}), call.context)

    for resource in call.resources:
        if any(s.get("Effect") == "Deny" and matches(s, resource) for s in statements):
            return False
        if not any(s.get("Effect") == "Allow" and matches(s, resource) for s in statements):
            return False
    return True


def ecs_arn(kind: str, name: str) -> str:
    return _arn("ecs", f"{kind}/{name}")


def table_arn(name: str) -> str:
    return _arn("dynamodb", f"table/{name}")


def execution_arn(name: str) -> str:
    return _arn("states", f"execution:{STATE_MACHINE_NAME}:{name}")


def secret_arn(name: str) -> str:
    # Secrets Manager appends a hyphen and six random characters to every secret's ARN.
    return _arn("secretsmanager", f"secret:{name}-AbC123")


__all__ = [
    "ACCOUNT",
    "REGION",
    "Call",
    "PolicyDocument",
    "allows",
    "ecs_arn",
    "execution_arn",
    "function_statements",
    "plausible_resolver",
    "policy_documents",
    "resource_types",
    "secret_arn",
    "table_arn",
]
