"""The HubSpoke stack: composes storage, functions and the workflow, and exports what users need."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack, Tags
from constructs import Construct

from stacks.functions import Functions
from stacks.monitoring import Monitoring
from stacks.settings import Settings
from stacks.storage import Storage
from stacks.triggers import Triggers
from stacks.workflow import Workflow


class HubSpokeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.storage = Storage(self, "Storage", settings=settings)
        self.functions = Functions(self, "Functions", settings=settings, storage=self.storage)
        self.workflow = Workflow(self, "Workflow", settings=settings, storage=self.storage, functions=self.functions)
        self.functions.grant_run_claims(self.workflow.state_machine)
        self.triggers = Triggers(
            self, "Triggers", settings=settings, state_machine=self.workflow.state_machine, functions=self.functions
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            state_machine=self.workflow.state_machine,
            functions=self.functions,
            triggers=self.triggers,
        )
        Tags.of(self).add("project", "hubspoke")

        for name, value, description in (
            (
                "StateMachineArn",
                self.workflow.state_machine.state_machine_arn,
                "Start a run: aws stepfunctions start-execution --state-machine-arn <this>",
            ),
            (
                "BucketName",
                self.storage.bucket.bucket_name,
                "Manifests under runs/, reports under reports/, your target lists under inputs/",
            ),
            (
                "AlarmTopicArn",
                self.monitoring.topic.topic_arn,
                "Subscribe to HubSpoke alarms (and their OK transitions)",
            ),
            ("LedgerTableName", self.storage.ledger.table_name, "The run ledger: one row per (run_id, target_id)"),
            *self._trusted_role_outputs(),
        ):
            CfnOutput(self, name, value=value, description=description)

    def _trusted_role_outputs(self) -> list[tuple[str, str, str]]:
        """The function roles that assume the HubSpoke role in target accounts: what stack HubSpokeTargetRole
        trusts (its TrustedRoleArns parameter takes the last output as it is)."""
        outputs = []
        arns = []
        for name, function, use in (
            ("HubRoleArn", self.functions.hub, "discovery"),
            ("SpokeRoleArn", self.functions.spoke, "operations"),
            ("IndexerRoleArn", self.functions.indexer, "the image index"),
        ):
            assert function.role is not None  # Functions gives each function its own role
            arns.append(function.role.role_arn)
            outputs.append(
                (name, function.role.role_arn, f"The {function.node.id} function's role ({use} in target accounts)")
            )
        outputs.append(
            (
                "TrustedRoleArns",
                Fn.join(",", arns),
                "Pass to stack HubSpokeTargetRole in each target account: TrustedRoleArns=<this>",
            )
        )
        return outputs
