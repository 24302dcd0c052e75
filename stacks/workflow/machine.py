"""The Workflow construct: the fragments wired into one state machine, with its log group."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.checkers import skip_checkov
from stacks.common import cfn, depend_on_policy_only, log_retention, removal_policy, vended_log_group_name
from stacks.functions import Functions
from stacks.nag import acknowledge_state_machine
from stacks.settings import Settings
from stacks.storage import Storage
from stacks.workflow.discovery import hub_task, unless_duplicate, wait_for_discovery_budget
from stacks.workflow.gate import budget_gate
from stacks.workflow.plan import unless_planned
from stacks.workflow.spokes import spoke, spoke_map
from stacks.workflow.summary import summarize
from stacks.workflow.waves import wave_loop


class Workflow(Construct):
    """One STANDARD state machine (JSONPath); every Task has a timeout; logs ALL with data; X-Ray on.

    Hub -> DryRun (a plan ends here) -> DuplicateDelivery -> AnyTargets -> waves of [budget gate -> Distributed
    Map of Spokes (Catch -> RecordFailure -> CountFailure)] (a canary's verdict after wave 0) -> Summarize ->
    RunOutcome.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, storage: Storage, functions: Functions
    ) -> None:
        super().__init__(scope, construct_id)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(settings, storage, functions)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            query_language=sfn.QueryLanguage.JSON_PATH,
            timeout=Duration.hours(settings.run_timeout_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self._log_group(settings), level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        depend_on_policy_only(self.state_machine, self.state_machine.role)
        acknowledge_state_machine(
            self.state_machine,
            bucket=storage.bucket,
            invoked=(functions.hub, functions.spoke, functions.gate, functions.summarize),
            map_label="Spokes",
        )

    def _definition(self, settings: Settings, storage: Storage, functions: Functions) -> sfn.IChainable:
        hub = hub_task(self, settings, functions)
        wait_for_discovery_budget(self, settings, hub)
        spokes = spoke_map(self, storage, spoke(self, settings, storage, functions))
        done = summarize(self, settings, functions)
        # The Map itself can fail (the wave's manifest unreadable, results unwritable): still summarize, so the run
        # ends with a report; targets not run stay pending and are counted lost. The error goes into the notes.
        spokes.add_catch(done, errors=[sfn.Errors.ALL], result_path="$.notes.map_error")
        gate = budget_gate(self, settings, functions, spokes)
        run = unless_duplicate(self, wave_loop(self, gate=gate, spokes=spokes, done=done, ledger=storage.ledger))
        return hub.next(unless_planned(self, run))

    def _log_group(self, settings: Settings) -> logs.LogGroup:
        group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=vended_log_group_name(self, "states", "executions"),
            retention=log_retention(settings),
            removal_policy=removal_policy(settings),
        )
        skip_checkov(
            cfn(group),
            "CKV_AWS_158",
            "CloudWatch Logs encrypts every log group at rest with service-managed keys. Execution data holds run "
            "requests, target ids and results, never a credential; a customer managed key would need a key policy "
            "for the logs service and adds no control we use.",
        )
        return group
