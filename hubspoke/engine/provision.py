"""Provisioning from the synthesized template: buckets, tables, functions and the state machine, in moto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubspoke.cfn import Resolver
from hubspoke.engine import limits
from hubspoke.engine.runtime import InProcessRuntime, LocalFunction
from hubspoke.synth import SynthesizedStack

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "hubspoke-local"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/hubspoke-local-states"


def function_role_arn(function: dict[str, Any]) -> str:
    """The local ARN of a function's execution role (its template Role is a GetAtt of the role's Arn), named
    as tests/iam.py names roles: hubspoke-<role logical id, lower case>."""
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return f"arn:aws:iam::{ACCOUNT}:role/hubspoke-{role_id.lower()}"


@dataclass(frozen=True)
class Provisioned:
    """What provisioning created: the ledger's name, the spoke's, and how the template's intrinsics resolve."""

    table_name: str
    spoke_function: str
    resolver: Resolver


def provision(
    stack: SynthesizedStack,
    runtime: InProcessRuntime,
    clients: dict[str, Any],
    time_scale: float,
    engine_environment: dict[str, str],
) -> Provisioned:
    """Create in moto what the template declares (buckets, tables from their own KeySchema and indexes) and register
    its functions with the runtime: their timeouts on the scaled clock, each with its own environment (its
    template's variables, resolved, and `engine_environment` over them, as Lambda's reserved ones are)."""
    refs: dict[str, Any] = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "HubSpoke",
    }
    attrs: dict[tuple[str, str], Any] = {}

    # The workflow's bucket is the one the stack outputs; others (access logs) get names only.
    main_bucket = stack.template["Outputs"]["BucketName"]["Value"]["Ref"]
    for bucket_id in stack.resources("AWS::S3::Bucket"):
        name = BUCKET if bucket_id == main_bucket else f"{BUCKET}-{bucket_id.lower()}"
        refs[bucket_id] = name
        attrs[(bucket_id, "Arn")] = f"arn:aws:s3:::{name}"
    clients["s3"].create_bucket(Bucket=BUCKET)

    # Every table from its own KeySchema; the ledger is the one the stack outputs.
    ledger_id = stack.template["Outputs"]["LedgerTableName"]["Value"]["Ref"]
    for table_id, table in stack.resources("AWS::DynamoDB::Table").items():
        name = "hubspoke-ledger" if table_id == ledger_id else f"hubspoke-{table_id.lower()}"
        props = table["Properties"]
        # Its global secondary indexes too (the ledger's failed-row index, which progress queries).
        indexes = {key: props[key] for key in ("GlobalSecondaryIndexes",) if key in props}
        clients["dynamodb"].create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            **indexes,
        )
        refs[table_id] = name
        attrs[(table_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    functions = stack.resources("AWS::Lambda::Function")
    for logical_id in functions:
        refs[logical_id] = logical_id
        attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
    resolver = Resolver(refs, attrs)

    spoke_function = ""
    for logical_id, fn in functions.items():
        props = fn["Properties"]
        variables = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        runtime.register(
            LocalFunction(
                name=logical_id,
                arn=attrs[(logical_id, "Arn")],
                handler_path=props["Handler"],
                asset_dir=stack.asset_dir(logical_id),
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_seconds=float(props.get("Timeout", 3)) * time_scale,
                # Lambda sets the function's name in its reserved AWS_LAMBDA_FUNCTION_NAME; a cache keyed by it
                # (shared.credentials) then stays one per function here too, as one per container there.
                environment={**variables, **engine_environment, "AWS_LAMBDA_FUNCTION_NAME": logical_id},
                role_arn=function_role_arn(fn),
                reserved_concurrency=_reserved(props),
            )
        )
        if props["Handler"].startswith("spoke."):
            spoke_function = logical_id
    return Provisioned(refs[ledger_id], spoke_function, resolver)


def resolved_definition(stack: SynthesizedStack, resolver: Resolver) -> str:
    """The template's state machine definition as synthesized, its intrinsics resolved (adaptation
    `resolved-definition`): the document Step Functions receives at deployment, with local names and ARNs."""
    ((_, sm),) = stack.resources("AWS::StepFunctions::StateMachine").items()
    definition: str = resolver.resolve(sm["Properties"]["DefinitionString"])
    return definition


def _reserved(props: dict[str, Any]) -> int | None:
    """The function's ReservedConcurrentExecutions (adaptation `reserved-concurrency`), None when it has none."""
    value = props.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


def create_state_machine(stack: SynthesizedStack, sfn: Any, resolver: Resolver) -> str:
    """The template's own state machine, its intrinsics resolved (adaptation `resolved-definition`); its ARN."""
    definition = limits.adapt_definition(resolved_definition(stack, resolver))
    created = sfn.create_state_machine(name="HubSpoke", definition=definition, roleArn=ROLE_ARN, type="STANDARD")
    arn: str = created["stateMachineArn"]
    return arn
