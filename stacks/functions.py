"""The Lambda functions: one factory, so every function gets the same runtime, layer, tracing and logs."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnResource, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.common import acknowledge, cfn, depend_on_policy_only, log_retention, logical_id, removal_policy
from stacks.settings import Settings
from stacks.storage import INPUT_PREFIX, MANIFEST_PREFIX, REPORT_PREFIX, Storage

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.X86_64
METRICS_NAMESPACE = "HubSpoke"
# Lambda's own timeout is a backstop a little after the Step Functions task timeout, which is the authority.
LAMBDA_TIMEOUT_MARGIN_SECONDS = 10


def _default_policy(role: iam.IRole | None) -> CfnResource:
    """The CloudFormation policy CDK creates for a role's add_to_policy statements."""
    assert isinstance(role, iam.Role)
    policy = role.node.find_child("DefaultPolicy")
    return cfn(policy)


def powertools_layer_parameter() -> str:
    """The AWS-managed Powertools layer's public SSM parameter for our runtime and architecture."""
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/latest"


class Functions(Construct):
    """Hub, spoke and summarize functions over one code asset (lambdas/), no bundling, no Docker."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._code = lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=["**/__pycache__", "**/*.pyc", "**/.mypy_cache"])
        self._layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(self, powertools_layer_parameter()),
        )
        self._environment = {
            "LEDGER_TABLE": storage.ledger.table_name,
            "BUCKET_NAME": storage.bucket.bucket_name,
            "DEFAULT_MAX_CONCURRENCY": str(settings.max_concurrency),
            "FAILURE_THRESHOLD_PERCENT": str(settings.failure_threshold_percent),
            "LEDGER_TTL_DAYS": str(settings.ledger_ttl_days),
            "POWERTOOLS_SERVICE_NAME": "hubspoke",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        bucket, ledger = storage.bucket, storage.ledger

        self.hub = self._function(
            "Hub",
            "hub.handler.handler",
            settings.hub_timeout_seconds,
            "Validates a run request, discovers targets, writes the manifest, seeds the ledger.",
        )
        self.hub.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:BatchWriteItem"], resources=[ledger.table_arn])
        )
        self.hub.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{MANIFEST_PREFIX}*")])
        )
        # s3-manifest source: target lists uploaded under inputs/ (and buckets named in settings).
        self.hub.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    bucket.arn_for_objects(f"{INPUT_PREFIX}*"),
                    *(f"arn:{Aws.PARTITION}:s3:::{name}/*" for name in settings.manifest_source_buckets),
                ],
            )
        )

        self.spoke = self._function(
            "Spoke",
            "spoke.handler.handler",
            settings.spoke_timeout_seconds,
            "Runs the operation on one target and records the result in the ledger.",
        )
        self.spoke.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem", "dynamodb:UpdateItem"], resources=[ledger.table_arn])
        )

        self.summarize = self._function(
            "Summarize",
            "summarize.handler.handler",
            settings.summarize_timeout_seconds,
            "Streams the run ledger, writes the report, emits metrics, decides the outcome.",
        )
        self.summarize.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=[ledger.table_arn]))
        self.summarize.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{REPORT_PREFIX}*")])
        )
        self._acknowledge_prefixes(storage, settings)

    def _acknowledge_prefixes(self, storage: Storage, settings: Settings) -> None:
        """Object-key wildcards below one prefix of our bucket are as narrow as S3 ARNs get: one key per run."""
        bucket = logical_id(storage.bucket)
        for function, prefix, use in (
            (self.hub, MANIFEST_PREFIX, "writes runs/<run_id>/manifest.json"),
            (self.hub, INPUT_PREFIX, "reads the target lists users upload under inputs/"),
            (self.summarize, REPORT_PREFIX, "writes reports/<run_id>.json"),
        ):
            acknowledge(
                _default_policy(function.role),
                f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{prefix}*]",
                f"The {function.node.id} function {use}; object names depend on the run id, so the grant is "
                f"one prefix of this stack's own bucket.",
            )
        for name in settings.manifest_source_buckets:
            acknowledge(
                _default_policy(self.hub.role),
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{name}/*]",
                "s3:GetObject only, on a bucket the operator listed in manifest_source_buckets for s3-manifest "
                "target lists.",
            )

    def _function(self, name: str, handler: str, task_timeout_seconds: int, description: str) -> lambda_.Function:
        settings = self._settings
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=log_retention(settings),
            removal_policy=removal_policy(settings),
        )
        # Our own role instead of AWSLambdaBasicExecutionRole: logs only to this function's log group.
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"HubSpoke {name} function",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            name,
            role=role,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self._code,
            handler=handler,
            memory_size=settings.lambda_memory_mb,
            timeout=Duration.seconds(min(task_timeout_seconds + LAMBDA_TIMEOUT_MARGIN_SECONDS, 900)),
            tracing=lambda_.Tracing.ACTIVE,
            layers=[self._layer],
            environment=self._environment,
            log_group=log_group,
        )
        acknowledge(
            cfn(function),
            "Serverless-LambdaDLQ",
            "Step Functions invokes this function synchronously (RequestResponse); a DLQ only applies to "
            "asynchronous invocations. Failures are caught by the state machine and recorded in the ledger.",
        )
        acknowledge(
            _default_policy(role),
            "AwsSolutions-IAM5[Resource::*]",
            "Tracing is active: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
            "permissions (X-Ray IAM reference), so they need Resource '*'.",
        )
        depend_on_policy_only(function, role)
        return function
