"""The Lambda functions: one factory, so every function gets the same runtime, layer, tracing and logs."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Aws, CfnResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.bundling import python_asset
from stacks.checkers import ignore_cfn_lint, skip_checkov
from stacks.common import cfn, depend_on_policy_only, log_retention, logical_id, removal_policy
from stacks.nag import acknowledge
from stacks.settings import Settings
from stacks.storage import INPUT_PREFIX, MANIFEST_PREFIX, PLAN_PREFIX, REPORT_PREFIX, Storage

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.X86_64
# Lambda's own timeout is a backstop a little after the Step Functions task timeout, which is the authority.
LAMBDA_TIMEOUT_MARGIN_SECONDS = 10
# The gate makes one API call (GET /rate_limit); a minute is generous.
GATE_TIMEOUT_SECONDS = 60
# The Powertools release the deployed functions get from the AWS-managed layer: the one the tests run
# (constraints.txt pins it; tests/infrastructure/test_resources.py checks the two agree). `latest` would let
# a new release, even a new major, reach production at the next deploy without a line changing here.
POWERTOOLS_VERSION = "3.37.0"


def _default_policy(role: iam.IRole | None) -> CfnResource:
    """The CloudFormation policy CDK creates for a role's add_to_policy statements."""
    assert isinstance(role, iam.Role)
    policy = role.node.find_child("DefaultPolicy")
    return cfn(policy)


def powertools_layer_parameter() -> str:
    """The AWS-managed Powertools layer's public SSM parameter for our architecture, runtime and the pinned
    release: /aws/service/powertools/python/{arch}/{python_version}/{version} (the Powertools docs' format)."""
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{POWERTOOLS_VERSION}"


def _environments(settings: Settings, storage: Storage) -> dict[str, dict[str, str]]:
    """Each function's variables: exactly what its model in lambdas/shared/config.py reads, and Powertools'."""
    powertools = {
        "POWERTOOLS_SERVICE_NAME": "hubspoke",
        "POWERTOOLS_METRICS_NAMESPACE": settings.monitoring.namespace,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    ledger = {"LEDGER_TABLE": storage.ledger.table_name, "LEDGER_TTL_DAYS": str(settings.ledger_ttl_days)}
    github = {
        "GITHUB_API_URL": settings.github.api_url,
        "GITHUB_TOKEN_SECRET": settings.github.token_secret_name,
        "GITHUB_INLINE_RETRY_AFTER_MAX": str(settings.github.inline_retry_after_max_seconds),
        "GITHUB_REQUEST_TIMEOUT": str(settings.github.request_timeout_seconds),
    }
    steady = {
        "WAIT_FOR_STEADY": "true" if settings.image_push.wait_for_steady else "false",
        "STEADY_TIMEOUT_SECONDS": str(settings.image_push.steady_timeout_seconds),
    }
    image_index = {
        "IMAGE_INDEX_TABLE": storage.image_index.table_name,
        "ECS_CLUSTERS": ",".join(settings.image_push.clusters),
        "INDEX_MAX_AGE_MINUTES": str(settings.image_push.index_max_age_minutes),
        "IMAGE_PUSH_ACCOUNTS": ",".join(settings.image_push.accounts),
        "IMAGE_PUSH_REGIONS": ",".join(settings.image_push.regions),
        "EKS_CLUSTERS": ",".join(settings.image_push.eks_clusters),
    }
    cross_account = {
        "CROSS_ACCOUNT_ROLE_NAME": settings.cross_account.role_name,
        "CROSS_ACCOUNT_EXTERNAL_ID": settings.cross_account.external_id or "",
        "CROSS_ACCOUNT_ACCOUNTS": ",".join(settings.cross_account.accounts),
    }
    bucket = {"BUCKET_NAME": storage.bucket.bucket_name}
    threshold = {"FAILURE_THRESHOLD_PERCENT": str(settings.failure_threshold_percent)}
    idempotency = {"IDEMPOTENCY_TABLE": storage.idempotency.table_name}
    return {
        "Hub": {
            **powertools,
            **ledger,
            **github,
            **steady,
            **image_index,
            **bucket,
            **threshold,
            **idempotency,
            **cross_account,
            "DEFAULT_MAX_CONCURRENCY": str(settings.max_concurrency),
            # Empty: no ceiling for all runs together.
            "MAX_TOTAL_CONCURRENCY": ""
            if settings.max_total_concurrency is None
            else str(settings.max_total_concurrency),
            "GITHUB_MAX_CONCURRENCY": str(settings.github.max_concurrency),
            "SPOKE_TIMEOUT_SECONDS": str(settings.spoke_timeout_seconds),
            "LAMBDA_MEMORY_MB": str(settings.lambda_memory_mb),
        },
        "Spoke": {
            **powertools,
            **ledger,
            **github,
            **steady,
            **idempotency,
            **cross_account,
            "IDEMPOTENCY_HOURS": str(settings.image_push.idempotency_hours),
        },
        # The ledger's table: adaptive concurrency reads and records each wave's counts in the run's counters item.
        "Gate": {**powertools, **github, "LEDGER_TABLE": storage.ledger.table_name},
        "Summarize": {**powertools, **bucket, **threshold, "LEDGER_TABLE": storage.ledger.table_name},
        "Indexer": {**powertools, **image_index, **cross_account},
    }


class Functions(Construct):
    """Hub, spoke, gate, summarize and indexer functions over one code asset (lambdas/ bundled without Docker)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        # lambdas/ plus its pinned pure-Python requirements (the GitHub client), bundled with pip, no Docker.
        self._code = python_asset(LAMBDAS_DIR, RUNTIME, ARCHITECTURE)
        self._layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(self, powertools_layer_parameter()),
        )
        self._environment = _environments(settings, storage)
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
        # `run` source (rerun failed/lost): an earlier run's ledger rows and its manifest.
        self.hub.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=[ledger.table_arn]))
        self.hub.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{MANIFEST_PREFIX}*")])
        )
        # The manifests of a run; the plan of a dry run (plans/<run_id>.json).
        self.hub.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{MANIFEST_PREFIX}*"), bucket.arn_for_objects(f"{PLAN_PREFIX}*")],
            )
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

        # ecs-clusters source with `organization: true`: the organization's accounts. ListAccounts supports no
        # resource type (Service Authorization Reference for AWS Organizations), so Resource '*'; AWS answers it
        # only in the management account or a delegated administrator. The clusters themselves are listed through
        # the target role in each account (shared.credentials), never with the hub's own ECS grants.
        self.hub.add_to_role_policy(iam.PolicyStatement(actions=["organizations:ListAccounts"], resources=["*"]))

        self.spoke = self._function(
            "Spoke",
            "spoke.handler.handler",
            settings.spoke_timeout_seconds,
            "Runs the operation on one target and records the result in the ledger.",
            # The ceiling for all runs together: Lambda runs at most this many spokes at once and throttles the
            # rest (Lambda.TooManyRequestsException), which the Spoke task's Lambda-service Retry retries.
            reserved_concurrency=settings.max_total_concurrency,
        )
        self.spoke.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem", "dynamodb:UpdateItem"], resources=[ledger.table_arn])
        )
        # The circuit breaker: one GetItem of the run's counters item before a spoke acts.
        self.spoke.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[ledger.table_arn]))

        self.summarize = self._function(
            "Summarize",
            "summarize.handler.handler",
            settings.summarize_timeout_seconds,
            "Streams the run ledger, writes the report, emits metrics, decides the outcome.",
        )
        self.summarize.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=[ledger.table_arn]))
        # A run stopped after its canary: the targets after it are recorded skipped, 25 rows per BatchWriteItem.
        self.summarize.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:BatchWriteItem"], resources=[ledger.table_arn])
        )
        self.summarize.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{REPORT_PREFIX}*")])
        )
        self.gate = self._function(
            "Gate",
            "gate.handler.handler",
            GATE_TIMEOUT_SECONDS,
            "Reads the operation's API budget before a wave; says how long the state machine should wait.",
        )
        # Adaptive concurrency: one GetItem of the run's counters item before a wave, one UpdateItem recording the
        # wave's concurrency and why it changed. On the ledger table only.
        self.gate.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[ledger.table_arn])
        )
        self._github_grants(settings)
        self._image_push_grants(storage, settings)
        self._run_task_grants()
        self._eks_grants()
        self._cross_account_grants(settings)
        self._acknowledge_prefixes(storage, settings)

    def _github_grants(self, settings: Settings) -> None:
        """The GitHub token's secret, readable by the functions that call GitHub (github-org, file sync, gate)."""
        # Secrets Manager appends six random characters to a secret's ARN; '??????' matches exactly those.
        name = settings.github.token_secret_name
        arn = f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:{name}-??????"
        for function in (self.hub, self.spoke, self.gate):
            function.add_to_role_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[arn]))

    def _image_push_grants(self, storage: Storage, settings: Settings) -> None:
        """The image-push scenario: the indexer scans ECS, the hub reads the index (or scans live), the spoke
        restarts services only in the configured clusters."""
        self.indexer = self._function(
            "Indexer",
            "indexer.handler.handler",
            settings.hub_timeout_seconds,
            "Scans the ECS clusters and rebuilds the image index (repository -> services).",
            invoked_async=True,
        )
        # ListClusters, ListServices and DescribeTaskDefinition support no resource type (Service Authorization
        # Reference for Amazon ECS): a grant on cluster ARNs never matches and AWS answers AccessDenied.
        # ListServices takes the ecs:cluster condition key (the cluster's ARN) instead.
        global_actions = ["ecs:ListClusters", "ecs:DescribeTaskDefinition"]
        clusters = settings.image_push.clusters
        service_arns = [self._ecs_arn("service", f"{c}/*") for c in clusters] or [self._ecs_arn("service", "*")]
        in_clusters = {"ArnEquals": {"ecs:cluster": [self._ecs_arn("cluster", c) for c in clusters]}}
        for function in (self.indexer, self.hub):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ecs:ListServices"], resources=["*"], conditions=in_clusters if clusters else None
                )
            )
            function.add_to_role_policy(iam.PolicyStatement(actions=["ecs:DescribeServices"], resources=service_arns))
            function.add_to_role_policy(iam.PolicyStatement(actions=global_actions, resources=["*"]))
        self.indexer.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:BatchWriteItem"], resources=[storage.image_index.table_arn])
        )
        self.hub.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:Query"], resources=[storage.image_index.table_arn]
            )
        )
        # The run-id claim (lambdas/hub/claims.py) lives in the idempotency table.
        self.hub.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem"], resources=[storage.idempotency.table_arn]
            )
        )
        self.spoke.add_to_role_policy(
            iam.PolicyStatement(actions=["ecs:UpdateService", "ecs:DescribeServices"], resources=service_arns)
        )
        self.spoke.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[storage.idempotency.table_arn],
            )
        )
        wildcard_services = [f"Resource::{self._nag_ecs_arn('service', f'{c}/*')}" for c in clusters] or [
            f"Resource::{self._nag_ecs_arn('service', '*')}"
        ]
        for function, findings in (
            (self.indexer, wildcard_services),
            (self.hub, wildcard_services),
            (self.spoke, wildcard_services),
        ):
            for finding in findings:
                acknowledge(
                    _default_policy(function.role),
                    f"AwsSolutions-IAM5[{finding}]",
                    "The services of image_push.clusters, or of every cluster when none are set: "
                    "services come and go, so their names cannot be listed at deploy time.",
                )

    def _eks_grants(self) -> None:
        """k8s-apply and k8s-rollout-restart on EKS clusters of this account (a target without an `account`): the
        spoke asks DescribeCluster for the endpoint and CA. The bearer token is a presigned STS GetCallerIdentity
        URL: presigning makes no call and GetCallerIdentity needs no permission. What the token may do inside the
        cluster is the cluster's access entry and RBAC (README: Kubernetes (EKS)); clusters in other accounts are
        described through their HubSpokeTargetRole."""
        arn = f"arn:{Aws.PARTITION}:eks:*:{Aws.ACCOUNT_ID}:cluster/*"
        self.spoke.add_to_role_policy(iam.PolicyStatement(actions=["eks:DescribeCluster"], resources=[arn]))
        acknowledge(
            _default_policy(self.spoke.role),
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:eks:*:<AWS::AccountId>:cluster/*]",
            "DescribeCluster (endpoint and CA) on the EKS clusters of this account that a k8s run targets; the "
            "clusters are the run's targets, known only when it starts.",
        )

    def _run_task_grants(self) -> None:
        """ecs-run-task on clusters of this account (any region: a target may name one without an account);
        clusters in other accounts are reached through their HubSpokeTargetRole instead."""
        account, partition = Aws.ACCOUNT_ID, Aws.PARTITION
        in_account = f"arn:{partition}:ecs:*:{account}"
        for statement in (
            # RunTask is authorized on the task definition (Service Authorization Reference), DescribeTasks on
            # the task; ListTasks on a container instance, which a Fargate task has none of: '*' with the
            # ecs:cluster condition, as AWS's examples grant it. DescribeTaskDefinition has no resource type.
            iam.PolicyStatement(actions=["ecs:RunTask"], resources=[f"{in_account}:task-definition/*"]),
            iam.PolicyStatement(actions=["ecs:DescribeTasks"], resources=[f"{in_account}:task/*"]),
            iam.PolicyStatement(
                actions=["ecs:ListTasks"],
                resources=["*"],
                conditions={"ArnLike": {"ecs:cluster": f"{in_account}:cluster/*"}},
            ),
            iam.PolicyStatement(actions=["ecs:DescribeTaskDefinition"], resources=["*"]),
            # The run/target tags RunTask puts on the task: tag on create only, never an existing resource.
            iam.PolicyStatement(
                actions=["ecs:TagResource"],
                resources=[f"{in_account}:task/*"],
                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
            ),
            # The task definition's task and execution roles, passed to ECS tasks and nothing else.
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[f"arn:{partition}:iam::{account}:role/*"],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            ),
        ):
            self.spoke.add_to_role_policy(statement)
        nag_in_account = "arn:<AWS::Partition>:ecs:*:<AWS::AccountId>"
        for finding, reason in (
            (
                f"{nag_in_account}:task-definition/*",
                "ecs-run-task runs the task definition a run names (params.task_definition), in any region of this "
                "account; its name is known only when the run starts.",
            ),
            (
                f"{nag_in_account}:task/*",
                "DescribeTasks, and tags on create (ecs:CreateAction RunTask), on the tasks ecs-run-task starts: "
                "task ids are assigned by ECS when the task starts.",
            ),
            (
                "arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*",
                "iam:PassRole only to ecs-tasks.amazonaws.com (iam:PassedToService): the task and execution roles "
                "of whichever task definition a run names.",
            ),
        ):
            acknowledge(_default_policy(self.spoke.role), f"AwsSolutions-IAM5[Resource::{finding}]", reason)

    def _cross_account_grants(self, settings: Settings) -> None:
        """The hub (discovery), the spoke (operations) and the indexer (image index) may assume only the HubSpoke
        role (cross_account.role_name): in the listed accounts when some are, else in any account; inside the
        organization when one is set (aws:ResourceOrgID, the organization of the account that owns the role)."""
        cross = settings.cross_account
        accounts = cross.accounts or ["*"]
        roles = [f"arn:{Aws.PARTITION}:iam::{account}:role/{cross.role_name}" for account in accounts]
        # A role outside any organization has no aws:ResourceOrgID: StringEquals then fails, so it is refused.
        in_org = {"StringEquals": {"aws:ResourceOrgID": cross.organization_id}} if cross.organization_id else None
        for function in (self.hub, self.spoke, self.indexer):
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["sts:AssumeRole"], resources=roles, conditions=in_org)
            )
            if not cross.accounts:
                acknowledge(
                    _default_policy(function.role),
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{cross.role_name}]",
                    "sts:AssumeRole on one role name, HubSpoke's target role, in whichever account a target names "
                    "(cross_account.accounts is empty; set it to list them). The role's trust policy (stack "
                    "HubSpokeTargetRole) admits only this deployment's function roles.",
                )

    def grant_run_claims(self, state_machine: sfn.StateMachine) -> None:
        """The hub asks Step Functions whether the execution holding a run id's claim still runs.

        A policy of its own, not the role's default policy: the function depends on that one, and the state
        machine on the function, so naming the state machine there would be a cycle.
        """
        stack = Stack.of(self)
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "HubRunClaims",
            roles=[self.hub.role] if self.hub.role else [],
            statements=[iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions])],
        )
        acknowledge(
            cfn(policy),
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f"<{logical_id(state_machine)}.Name>:*]",
            "DescribeExecution on the executions of this stack's own state machine: the hub reads the status of the "
            "execution that holds a run id's claim, whose name EventBridge or the user chose.",
        )

    @staticmethod
    def _ecs_arn(kind: str, name: str) -> str:
        return f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:{kind}/{name}"

    @staticmethod
    def _nag_ecs_arn(kind: str, name: str) -> str:
        return f"arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:{kind}/{name}"

    def _acknowledge_prefixes(self, storage: Storage, settings: Settings) -> None:
        """Object-key wildcards below one prefix of our bucket are as narrow as S3 ARNs get: one key per run."""
        bucket = logical_id(storage.bucket)
        for function, prefix, use in (
            (self.hub, MANIFEST_PREFIX, "writes runs/<run_id>/manifest.json"),
            (self.hub, PLAN_PREFIX, "writes a dry run's plans/<run_id>.json"),
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

    def _function(
        self,
        name: str,
        handler: str,
        task_timeout_seconds: int,
        description: str,
        *,
        invoked_async: bool = False,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
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
            environment=self._environment[name],
            log_group=log_group,
            reserved_concurrent_executions=reserved_concurrency,
        )
        no_dlq = (
            (
                "EventBridge invokes this function asynchronously; what still fails after Lambda's retries goes to "
                "the trigger dead-letter queue through an on-failure destination (stacks/triggers.py), whose "
                "record carries the error, unlike a function DLQ's."
            )
            if invoked_async
            else (
                "Step Functions invokes this function synchronously (RequestResponse); a DLQ only applies to "
                "asynchronous invocations. Failures are caught by the state machine and recorded in the ledger."
            )
        )
        acknowledge(cfn(function), "Serverless-LambdaDLQ", no_dlq)
        self._acknowledge_checkers(function, log_group, no_dlq)
        acknowledge(
            _default_policy(role),
            "AwsSolutions-IAM5[Resource::*]",
            "Tracing is active: xray:PutTraceSegments and xray:PutTelemetryRecords (and for the hub and indexer "
            "ecs:ListClusters, ecs:ListServices, ecs:DescribeTaskDefinition; for the spoke ecs:DescribeTaskDefinition "
            "and ecs:ListTasks; for the hub organizations:ListAccounts) support no resource type usable here (X-Ray, "
            "ECS and Organizations Service Authorization References), so they need Resource '*'; ListServices "
            "carries an ecs:cluster condition when image_push.clusters is set, ListTasks one naming this account's "
            "clusters.",
        )
        depend_on_policy_only(function, role)
        return function

    @staticmethod
    def _acknowledge_checkers(function: lambda_.Function, log_group: logs.LogGroup, no_dlq: str) -> None:
        """What checkov and the Serverless Rules ask of every function that this design answers otherwise."""
        resource = cfn(function)
        skip_checkov(resource, "CKV_AWS_116", no_dlq)
        skip_checkov(
            resource,
            "CKV_AWS_117",
            "The function calls AWS APIs and the GitHub API over TLS and reaches no private network resource; in a "
            "VPC it would need a NAT gateway or an interface endpoint per service, cost and parts that protect "
            "nothing here.",
        )
        skip_checkov(
            resource,
            "CKV_AWS_173",
            "Lambda encrypts environment variables at rest with its AWS managed key. Ours hold names and settings "
            "(tables, bucket, the token's secret name, limits, the cross-account external id, which AWS does not "
            "treat as a secret); the GitHub token is read from Secrets Manager at run time, never put here.",
        )
        assert isinstance(resource, lambda_.CfnFunction)
        if resource.reserved_concurrent_executions is None:
            skip_checkov(
                resource,
                "CKV_AWS_115",
                "Its callers bound its concurrency: Step Functions invokes the hub and summarize once per run, the "
                "gate once per wave and the spoke at most MaxConcurrency at a time per run; EventBridge invokes the "
                "indexer once per schedule. Reserved concurrency would take that much from the account's other "
                "functions for good.",
            )
        skip_checkov(
            cfn(log_group),
            "CKV_AWS_158",
            "CloudWatch Logs encrypts every log group at rest with service-managed keys. A customer managed key "
            "would need a key policy for the logs service; the logs carry run and target ids and errors, never a "
            "credential (tests scan the logs of runs for secrets).",
        )
        ignore_cfn_lint(
            resource,
            "WS1004",
            "The function logs to its own log group (LoggingConfig.LogGroup), which sets RetentionInDays; the rule "
            "only recognises a log group named /aws/lambda/<function name>.",
        )
