"""What a client needs to operate a HubSpoke stack, read from the stack's CloudFormation outputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

OUTPUTS = {
    "StateMachineArn": "state_machine_arn",
    "BucketName": "bucket",
    "LedgerTableName": "ledger_table",
    "AlarmTopicArn": "topic_arn",
}


class DeploymentError(Exception):
    """The stack cannot be used; the message is one line saying what to do (the CLI exits 2)."""


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    state_machine_arn: str
    bucket: str
    ledger_table: str
    topic_arn: str
    region: str
    profile: str | None = None
    endpoint_url: str | None = None  # None: AWS itself (or the embedded engine, which intercepts boto3)
    # An embedded engine served on loopback (another process's) takes any credentials: these, not the user's.
    local_credentials: bool = False

    def client(self, service: str) -> Any:
        if self.local_credentials:
            return _local_session(self.region).client(service, endpoint_url=self.endpoint_url)
        return _session(self.profile, self.region).client(
            service, region_name=self.region, endpoint_url=self.endpoint_url
        )

    def names(self) -> dict[str, str]:
        """The names and ARNs a client needs (what engine.json records for other processes)."""
        return {
            "stack_name": self.stack_name,
            "state_machine_arn": self.state_machine_arn,
            "bucket": self.bucket,
            "ledger_table": self.ledger_table,
            "topic_arn": self.topic_arn,
            "region": self.region,
        }


def _session(profile: str | None, region: str | None) -> Any:
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise DeploymentError(f"AWS profile {profile!r} not found: check --profile or ~/.aws/config") from None


def _local_session(region: str | None) -> Any:
    """An embedded engine served on loopback (another process's) takes any credentials: these, not the user's."""
    import boto3

    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto accepts any
        region_name=region,
    )


def discover(
    stack_name: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    local_credentials: bool = False,
) -> Deployment:
    """The Deployment of stack `stack_name` from DescribeStacks; DeploymentError names what to do."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    session = _local_session(region) if local_credentials else _session(profile, region)
    try:
        cfn = session.client("cloudformation", region_name=region, endpoint_url=endpoint_url)
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except NoRegionError:
        raise DeploymentError("no AWS region: pass --region or set AWS_REGION / a profile region") from None
    except NoCredentialsError:
        raise DeploymentError(
            "no AWS credentials: pass --profile, run `aws configure` / `aws sso login`, or set AWS_ACCESS_KEY_ID"
        ) from None
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        message = err.response.get("Error", {}).get("Message", str(err))
        if code == "ValidationError" and "does not exist" in message:
            where = session.region_name or region
            raise DeploymentError(
                f"stack {stack_name!r} not found in {where}: deploy it (`npx cdk deploy`) or pass --stack/--region"
            ) from None
        raise DeploymentError(f"cannot describe stack {stack_name!r}: {code}: {message}") from None
    except BotoCoreError as err:
        raise DeploymentError(f"cannot reach CloudFormation: {err}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [key for key in OUTPUTS if key not in outputs]
    if missing:
        raise DeploymentError(
            f"stack {stack_name!r} has no output {', '.join(missing)}: is it a HubSpoke stack? redeploy it"
        )
    values = {field: outputs[key] for key, field in OUTPUTS.items()}
    arn_region = values["state_machine_arn"].split(":")[3]
    return Deployment(
        stack_name=stack_name,
        region=arn_region,
        profile=profile,
        endpoint_url=endpoint_url,
        local_credentials=local_credentials,
        **values,
    )


# The embedded engine running in this process, if any: what commands without --stack operate on.
_EMBEDDED: list[Deployment] = []


def embedded() -> Deployment | None:
    """The Deployment of the embedded engine running in this process (the newest), if one is."""
    return _EMBEDDED[-1] if _EMBEDDED else None


def register_embedded(deployment: Deployment) -> None:
    _EMBEDDED.append(deployment)


def unregister_embedded(deployment: Deployment) -> None:
    if deployment in _EMBEDDED:
        _EMBEDDED.remove(deployment)


@contextmanager
def embedded_deployment(deployment: Deployment) -> Iterator[Deployment]:
    """While the block runs, commands without --stack operate on this (embedded) deployment."""
    register_embedded(deployment)
    try:
        yield deployment
    finally:
        unregister_embedded(deployment)
