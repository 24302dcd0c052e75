"""Triggers: an ECR image push starts a run that restarts the services running that image; a schedule
keeps the image index fresh."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.common import acknowledge, cfn
from stacks.functions import Functions
from stacks.settings import Settings

# EventBridge target retries (DESIGN.md: 0-185 attempts, 60-86,400 s); what still fails lands in the DLQ.
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = Duration.hours(2)


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
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
            acknowledge(
                cfn(self.dead_letters),
                rule,
                "This queue is itself the dead-letter queue of the triggers' targets; it needs no redrive queue.",
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
                },
            ),
        )
        self.image_push_rule.add_target(
            targets.SfnStateMachine(
                state_machine,
                input=events.RuleTargetInput.from_object(
                    {
                        # One run per event: a redelivered event reruns the same run id, and idempotency
                        # keeps each service to one restart.
                        "run_id": f"push-{events.EventField.event_id}",
                        "operation": "ecs-restart",
                        "params": {},
                        "source": {
                            "type": "image-users",
                            "repository": events.EventField.from_path("$.detail.repository-name"),
                            "tag": events.EventField.from_path("$.detail.image-tag"),
                            "digest": events.EventField.from_path("$.detail.image-digest"),
                            "registry": events.EventField.account,
                            "region": events.EventField.region,
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
        self.index_schedule.add_target(
            targets.LambdaFunction(functions.indexer, retry_attempts=2, dead_letter_queue=self.dead_letters)
        )
