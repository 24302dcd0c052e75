"""Triggers: an ECR image push starts a run that restarts the services running that image; a schedule
keeps the image index fresh."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.checkers import ignore_cfn_lint, skip_checkov
from stacks.common import cfn
from stacks.functions import Functions
from stacks.nag import acknowledge
from stacks.settings import Settings

# EventBridge target retries (its RetryPolicy allows 0-185 attempts and 60-86,400 s); what still fails lands in
# the DLQ.
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = Duration.hours(2)
# Lambda's asynchronous retries of a failed indexer run (0-2); an event older than one schedule period is
# superseded by the next scheduled run, so it is not kept longer.
INDEXER_ASYNC_RETRY_ATTEMPTS = 2
LAMBDA_MAX_EVENT_AGE_MINUTES = 360  # Lambda keeps an asynchronous event at most 6 hours


class Triggers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        state_machine: sfn.StateMachine,
        functions: Functions,
    ) -> None:
        super().__init__(scope, construct_id)
        push = settings.image_push
        self.dead_letters = sqs.Queue(
            self,
            "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        no_redrive = "This queue is itself the dead-letter queue of the triggers' targets; it needs no redrive queue."
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
            acknowledge(cfn(self.dead_letters), rule, no_redrive)
        ignore_cfn_lint(cfn(self.dead_letters), "ES6000", no_redrive)
        skip_checkov(
            cfn(self.dead_letters),
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled: true), which EventBridge and Lambda "
            "destinations can send to without a key policy; checkov's CloudFormation check only reads KmsMasterKeyId.",
        )
        repositories: list[object] = [*push.repositories, *({"prefix": p} for p in push.repository_prefixes)]
        self.image_push_rule = events.Rule(
            self,
            "ImagePushRule",
            description="ECR image pushes to watched repositories start a HubSpoke ecs-restart run",
            enabled=bool(repositories),
            event_pattern=events.EventPattern(
                source=["aws.ecr"],
                detail_type=["ECR Image Action"],
                detail={
                    "action-type": ["PUSH"],
                    "result": ["SUCCESS"],
                    "repository-name": repositories or ["-no-repository-configured-"],
                    # The input template reads these; a path the event lacks renders as nothing and makes
                    # invalid JSON ("tag":,). Untagged pushes (the per-platform manifests of a multi-arch
                    # image) therefore start nothing: the image index's own push carries the tag.
                    "image-tag": events.Match.exists(),
                    "image-digest": events.Match.exists(),
                },
            ),
        )
        # ECS services restart in one run; with image_push.eks_clusters, the Kubernetes workloads in a second run
        # of the same event (one operation per run), started by a second target of the same rule.
        runs: list[tuple[str, str, dict[str, str]]] = [("push", "ecs-restart", {})]
        if push.eks_clusters:
            runs.append(("push-k8s", "k8s-rollout-restart", {"platform": "kubernetes"}))
        for prefix, operation, platform in runs:
            self.image_push_rule.add_target(
                targets.SfnStateMachine(
                    state_machine,
                    input=events.RuleTargetInput.from_object(
                        {
                            # One run per event: a redelivered event reruns the same run id, and idempotency
                            # keeps each service (workload) to one restart.
                            "run_id": f"{prefix}-{events.EventField.event_id}",
                            "operation": operation,
                            "params": {},
                            "source": {
                                "type": "image-users",
                                "repository": events.EventField.from_path("$.detail.repository-name"),
                                "tag": events.EventField.from_path("$.detail.image-tag"),
                                "digest": events.EventField.from_path("$.detail.image-digest"),
                                "registry": events.EventField.account,
                                "region": events.EventField.region,
                                **platform,
                            },
                        }
                    ),
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                    max_event_age=TARGET_MAX_EVENT_AGE,
                )
            )
        self.index_schedule = events.Rule(
            self,
            "IndexSchedule",
            description="Rebuilds the HubSpoke image index",
            schedule=events.Schedule.rate(Duration.minutes(push.index_schedule_minutes)),
        )
        # The target's DLQ takes events EventBridge could not deliver; the function's own failures (AccessDenied,
        # a timeout) happen in Lambda's asynchronous invocation, whose retries end in this on-failure destination
        # (without one Lambda drops the event). Both land in the alarmed trigger dead-letter queue.
        self.index_schedule.add_target(
            targets.LambdaFunction(functions.indexer, retry_attempts=2, dead_letter_queue=self.dead_letters)
        )
        functions.indexer.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=INDEXER_ASYNC_RETRY_ATTEMPTS,
            max_event_age=Duration.minutes(min(push.index_schedule_minutes, LAMBDA_MAX_EVENT_AGE_MINUTES)),
        )
        # The schedule's permission to invoke the indexer (the only asynchronous invoke permission of the stack).
        (permission,) = (c for c in self.index_schedule.node.find_all() if isinstance(c, lambda_.CfnPermission))
        ignore_cfn_lint(
            permission,
            "ES1007",
            "The indexer has its EventInvokeConfig with an on-failure destination (the trigger dead-letter queue, "
            "just above); the rule matches it only when both name the function the same way, and CDK names it by "
            "ARN here and by name there.",
        )
