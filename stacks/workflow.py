"""The state machine: Hub -> Distributed Map of Spokes (Catch -> RecordFailure) -> Summarize -> outcome."""

from __future__ import annotations

from typing import NamedTuple

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.common import (
    acknowledge,
    cfn,
    depend_on_policy_only,
    log_retention,
    logical_id,
    removal_policy,
    vended_log_group_name,
)
from stacks.functions import GATE_TIMEOUT_SECONDS, Functions
from stacks.settings import RetryPolicy, RetrySettings, Settings
from stacks.storage import MANIFEST_PREFIX, Storage

# Error names raised by lambdas/shared/errors.py; tests check the two stay in step.
RATE_LIMIT_ERROR = "RateLimitError"
# A rate limit with a known reset: no Retry matches it, it goes straight to the Wait (HonourRetryAfter).
RATE_LIMIT_RESET_ERROR = "RateLimitResetError"
TRANSIENT_ERROR = "TransientError"
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
DYNAMODB_RETRYABLE_ERRORS = [
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
]
# A state's output that is the empty object: what every Map child ends with (its output is gathered).
EMPTY_OUTPUT: dict[str, object] = {}
# Where the Distributed Map writes its children's results (under the manifests' prefix, so they expire with them).
MAP_RESULTS_PREFIX = f"{MANIFEST_PREFIX}map-results"
# A Task's backstop timeout when the Lambda's own timeout is the real limit (hub, summarize).
DYNAMODB_TASK_TIMEOUT_SECONDS = 30


def _add_retry(state: tasks.LambdaInvoke, errors: list[str], policy: RetryPolicy) -> None:
    state.add_retry(
        errors=errors,
        interval=Duration.seconds(policy.interval_seconds),
        backoff_rate=policy.backoff_rate,
        max_attempts=policy.max_attempts,
        max_delay=Duration.seconds(policy.max_delay_seconds) if policy.max_delay_seconds else None,
        jitter_strategy=sfn.JitterType.FULL if policy.jitter == "FULL" else None,
    )


def _invoke(
    scope: Construct,
    construct_id: str,
    function: lambda_.IFunction,
    payload: dict[str, object],
    timeout_seconds: int,
    retry: RetrySettings,
    *,
    api_errors: bool,
    **options: object,
) -> tasks.LambdaInvoke:
    """A Lambda task as all of ours are: a task timeout, our own Retry for Lambda service errors instead of
    CDK's default, and — for code that calls rate-limited or flaky APIs — Retry for RateLimitError and
    TransientError, in that order."""
    task = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(payload),
        retry_on_service_exceptions=False,
        task_timeout=sfn.Timeout.duration(Duration.seconds(timeout_seconds)),
        **options,  # type: ignore[arg-type]
    )
    _add_retry(task, LAMBDA_SERVICE_ERRORS, retry.lambda_service)
    if api_errors:
        _add_retry(task, [RATE_LIMIT_ERROR], retry.rate_limit)
        _add_retry(task, [TRANSIENT_ERROR], retry.transient)
    return task


class _RetryAfterNames(NamedTuple):
    """The state names of one retry-after loop (they show in the console and the execution history)."""

    cause: str
    honour: str
    parse: str
    reasonable: str
    wait: str


class Workflow(Construct):
    """One STANDARD state machine (JSONPath); every Task has a timeout; logs ALL with data; X-Ray on."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, storage: Storage, functions: Functions
    ) -> None:
        super().__init__(scope, construct_id)
        retry = settings.retry

        # Discovery may call a rate-limited or flaky API (github-org); the hub writes only after discovery and
        # rewrites the same manifest and rows, so a retry is safe.
        hub = _invoke(
            self,
            "Hub",
            functions.hub,
            {
                # The execution's input, not the state's: after a wait for the discovery budget the state also
                # carries that wait's bookkeeping ($.discovery), which is no part of the run request.
                "request": sfn.JsonPath.execution_input,
                "execution_name": sfn.JsonPath.execution_name,
                # The hub claims the run id for this execution (lambdas/hub/claims.py).
                "execution_id": sfn.JsonPath.execution_id,
            },
            settings.hub_timeout_seconds,
            retry,
            api_errors=True,
            output_path="$.Payload",
        )

        self._wait_for_discovery_budget(retry, hub)

        spoke = _invoke(
            self,
            "Spoke",
            functions.spoke,
            {
                "run": sfn.JsonPath.object_at("$.run"),
                "target": sfn.JsonPath.object_at("$.target"),
                "retry_count": sfn.JsonPath.number_at("$$.State.RetryCount"),
            },
            settings.spoke_timeout_seconds,
            retry,
            api_errors=True,
            # A child's output is gathered into the Map's result: end every child with {} (see _spokes).
            result_selector=EMPTY_OUTPUT,
        )

        record_failure = tasks.DynamoUpdateItem(
            self,
            "RecordFailure",
            table=storage.ledger,
            key={
                "run_id": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.run.run_id")),
                "target_id": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.target.id")),
            },
            # Never overwrite a terminal success: a late failure after a recorded success changes nothing.
            condition_expression="attribute_exists(run_id) AND NOT (#s IN (:succeeded, :unchanged, :skipped))",
            update_expression=(
                "SET #s = :failed, error_type = :error, cause = :cause, updated_at = :now, "
                "attempts = if_not_exists(attempts, :one)"
            ),
            expression_attribute_names={"#s": "status"},
            expression_attribute_values={
                ":failed": tasks.DynamoAttributeValue.from_string("failed"),
                ":succeeded": tasks.DynamoAttributeValue.from_string("succeeded"),
                ":unchanged": tasks.DynamoAttributeValue.from_string("unchanged"),
                ":skipped": tasks.DynamoAttributeValue.from_string("skipped"),
                ":error": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.error.Error")),
                ":cause": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.error.Cause")),
                ":now": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
                ":one": tasks.DynamoAttributeValue.from_number(1),
            },
            result_selector=EMPTY_OUTPUT,
            task_timeout=sfn.Timeout.duration(Duration.seconds(DYNAMODB_TASK_TIMEOUT_SECONDS)),
        )
        record_failure.add_retry(
            errors=DYNAMODB_RETRYABLE_ERRORS, interval=Duration.seconds(1), backoff_rate=2.0, max_attempts=5
        )
        already_recorded = sfn.Pass(self, "SuccessAlreadyRecorded", result=sfn.Result.from_object(EMPTY_OUTPUT))
        # If even the failure row cannot be written, the row stays pending and Summarize counts it lost.
        unrecorded = sfn.Pass(self, "FailureNotRecorded", result=sfn.Result.from_object(EMPTY_OUTPUT))
        record_failure.add_catch(already_recorded, errors=["DynamoDB.ConditionalCheckFailedException"])
        record_failure.add_catch(unrecorded, errors=[sfn.Errors.ALL])
        # First a rate limit that says how long to wait (a Wait state, then the target again), then the rest.
        spoke.add_catch(
            self._honour_retry_after(retry, spoke, record_failure),
            errors=[RATE_LIMIT_ERROR, RATE_LIMIT_RESET_ERROR],
            result_path="$.error",
        )
        spoke.add_catch(record_failure, errors=[sfn.Errors.ALL], result_path="$.error")

        spokes = sfn.DistributedMap(
            self,
            "Spokes",
            item_reader=sfn.S3JsonItemReader(bucket=storage.bucket, key=sfn.JsonPath.string_at("$.wave.key")),
            # The wave's own concurrency: the run's, or lower when the gate found little budget left.
            max_concurrency_path="$.wave.max_concurrency",
            item_selector={
                "run": sfn.JsonPath.object_at("$.run"),
                "target": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "rate_limit": {"waits": 0},
            },
            result_path=sfn.JsonPath.DISCARD,
            map_execution_type=sfn.StateMachineType.STANDARD,
            label="Spokes",
            # ResultPath null does not stop the Map gathering every child's output; past 256 KiB that fails the
            # run with States.DataLimitExceeded, which no Catch matches. So the results go to S3, not the state.
            result_writer_v2=sfn.ResultWriterV2(bucket=storage.bucket, prefix=MAP_RESULTS_PREFIX),
            # Every target failure is caught and recorded in the child; a child that still fails (States.Runtime
            # cannot be caught) must not fail the run: its row stays pending and Summarize counts it lost.
            tolerated_failure_percentage=100,
        )
        spokes.item_processor(spoke)

        summarize = _invoke(
            self,
            "Summarize",
            functions.summarize,
            {
                "run": sfn.JsonPath.object_at("$.run"),
                "failure_threshold_percent": sfn.JsonPath.number_at("$.failure_threshold_percent"),
                "notes": sfn.JsonPath.object_at("$.notes"),
                "execution_started_at": sfn.JsonPath.string_at("$$.Execution.StartTime"),
                "waves_run": sfn.JsonPath.number_at("$.progress.wave"),
            },
            settings.summarize_timeout_seconds,
            retry,
            api_errors=False,
            result_selector={"summary.$": "$.Payload"},
            result_path="$.result",
            output_path="$.result",
        )
        # Summarize is idempotent (it recomputes from the ledger), so any crash is worth a retry.
        summarize.add_retry(errors=[sfn.Errors.ALL], interval=Duration.seconds(5), backoff_rate=2.0, max_attempts=2)

        outcome = (
            sfn.Choice(self, "RunOutcome")
            .when(
                sfn.Condition.string_equals("$.summary.outcome", "succeeded"),
                sfn.Succeed(self, "RunSucceeded"),
            )
            .otherwise(
                sfn.Fail(
                    self,
                    "RunFailed",
                    error="RunFailed",
                    cause="Failed targets exceeded the failure threshold, or targets were lost; see the run report.",
                )
            )
        )
        summarize.next(outcome)
        # The Map itself can fail (the wave's manifest unreadable, results unwritable): still summarize, so the run
        # ends with a report; targets not run stay pending and are counted lost. The error goes into the notes.
        spokes.add_catch(summarize, errors=[sfn.Errors.ALL], result_path="$.notes.map_error")
        # Waves: one Distributed Map per wave manifest, a Wait between waves (no Lambda sleeps). The wave
        # counter lives in $.progress.wave (the hub starts it at 0); a run without waves has one wave.
        select_wave = sfn.Pass(
            self,
            "SelectWave",
            parameters={
                "key": sfn.JsonPath.array_get_item(
                    sfn.JsonPath.list_at("$.waves.keys"), sfn.JsonPath.number_at("$.progress.wave")
                ),
                "index": sfn.JsonPath.number_at("$.progress.wave"),
                "max_concurrency": sfn.JsonPath.number_at("$.max_concurrency"),
                "checks": 0,
            },
            result_path="$.wave",
        )
        gate = self._gate(settings, functions, spokes)
        advance_wave = sfn.Pass(
            self,
            "AdvanceWave",
            parameters={"wave": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.progress.wave"), 1)},
            result_path="$.progress",
        )
        pause = sfn.Wait(self, "WavePause", time=sfn.WaitTime.seconds_path("$.waves.pause_seconds"))
        more_waves = (
            sfn.Choice(self, "MoreWaves")
            .when(sfn.Condition.number_less_than_json_path("$.progress.wave", "$.waves.count"), pause.next(select_wave))
            .otherwise(summarize)
        )
        select_wave.next(gate)
        spokes.next(advance_wave).next(more_waves)
        any_targets = (
            sfn.Choice(self, "AnyTargets")
            .when(sfn.Condition.number_greater_than("$.count", 0), select_wave)
            .otherwise(summarize)
        )

        log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=vended_log_group_name(self, "states", "executions"),
            retention=log_retention(settings),
            removal_policy=removal_policy(settings),
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(hub.next(self._unless_duplicate(any_targets))),
            state_machine_type=sfn.StateMachineType.STANDARD,
            query_language=sfn.QueryLanguage.JSON_PATH,
            timeout=Duration.hours(settings.run_timeout_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        depend_on_policy_only(self.state_machine, self.state_machine.role)
        self._acknowledge(storage, functions)

    def _unless_duplicate(self, run: sfn.IChainable) -> sfn.Choice:
        """Another execution is running this run id (a duplicate delivery): end here, succeeded, having done
        nothing; the hub's output names that execution."""
        return (
            sfn.Choice(self, "DuplicateDelivery")
            .when(
                sfn.Condition.is_present("$.duplicate_of"),
                sfn.Succeed(self, "AlreadyRunning", comment="Another execution runs this run id."),
            )
            .otherwise(run)
        )

    def _honour_retry_after(
        self, retry: RetrySettings, spoke: tasks.LambdaInvoke, record_failure: sfn.IChainable
    ) -> sfn.Pass:
        """A RateLimitError whose message starts "retry after N s: " (lambdas/shared/github.py) that its Retry
        attempts did not outlast: wait N s in a Wait state (a primary limit's reset can be an hour away; no
        Lambda sleeps that long), then run the spoke again; at most `rate_limit_max_waits` times per target."""
        names = _RetryAfterNames("RateLimitCause", "HonourRetryAfter", "ParseRetryAfter", "WaitIsReasonable",
                                 "WaitForRateLimit")  # fmt: skip
        return self._retry_after_wait(names, retry, at="$.rate_limit", error_at="$.error", again=spoke,
                                      give_up=record_failure)  # fmt: skip

    def _wait_for_discovery_budget(self, retry: RetrySettings, hub: tasks.LambdaInvoke) -> None:
        """A discovery refused by a rate limit that says how long ("retry after N s: ", e.g. a run started with
        the token's budget spent): wait N s in a Wait state, then discover again; at most `rate_limit_max_waits`
        times and `rate_limit_max_wait_seconds` each, as spokes do. Anything else fails the run as before."""
        failed = sfn.Fail(
            self, "DiscoveryFailed", error_path="$.discovery.error.Error", cause_path="$.discovery.error.Cause"
        )
        names = _RetryAfterNames("DiscoveryRateLimitCause", "HonourDiscoveryRetryAfter", "ParseDiscoveryRetryAfter",
                                 "DiscoveryWaitIsReasonable", "WaitForDiscoveryBudget")  # fmt: skip
        cause = self._retry_after_wait(names, retry, at="$.discovery", error_at="$.discovery_error", again=hub,
                                       give_up=failed)  # fmt: skip
        # The first refusal finds no count yet (the state is the run request): start it at 0.
        first = sfn.Pass(self, "FirstDiscoveryWait", parameters={"waits": 0}, result_path="$.discovery")
        first.next(cause)
        hub.add_catch(
            sfn.Choice(self, "DiscoveryRateLimited")
            .when(sfn.Condition.is_present("$.discovery.waits"), cause)
            .otherwise(first),
            errors=[RATE_LIMIT_ERROR, RATE_LIMIT_RESET_ERROR],
            result_path="$.discovery_error",
        )

    def _retry_after_wait(
        self,
        names: _RetryAfterNames,
        retry: RetrySettings,
        *,
        at: str,
        error_at: str,
        again: sfn.IChainable,
        give_up: sfn.IChainable,
    ) -> sfn.Pass:
        """The loop both the spoke and the hub use: parse "retry after N s: " from the caught error at
        `error_at`, keep the count of waits at `at`, wait N s and run `again`; `give_up` when the message does
        not say how long, the wait is too long, or the waits are spent. Returns the loop's first state."""
        message = f"{at}.cause.errorMessage"
        cause = sfn.Pass(
            self,
            names.cause,
            parameters={
                "error": sfn.JsonPath.object_at(error_at),
                "cause": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at(f"{error_at}.Cause")),
                "waits": sfn.JsonPath.number_at(f"{at}.waits"),
            },
            result_path=at,
        )
        parse = sfn.Pass(
            self,
            names.parse,
            parameters={
                "error": sfn.JsonPath.object_at(f"{at}.error"),
                "cause": sfn.JsonPath.object_at(f"{at}.cause"),
                "waits": sfn.JsonPath.math_add(sfn.JsonPath.number_at(f"{at}.waits"), 1),
                # "retry after N s: ..." -> ["retry", "after", "N", ...] -> N
                "seconds": sfn.JsonPath.string_to_json(
                    sfn.JsonPath.array_get_item(sfn.JsonPath.string_split(sfn.JsonPath.string_at(message), " "), 2)
                ),
            },
            result_path=at,
        )
        wait = sfn.Wait(self, names.wait, time=sfn.WaitTime.seconds_path(f"{at}.seconds"))
        parse.next(
            sfn.Choice(self, names.reasonable)
            .when(
                sfn.Condition.number_less_than_equals(f"{at}.seconds", retry.rate_limit_max_wait_seconds),
                wait.next(again),
            )
            .otherwise(give_up)
        )
        cause.next(
            sfn.Choice(self, names.honour)
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present(message),
                    sfn.Condition.is_string(message),
                    sfn.Condition.string_matches(message, "retry after * s: *"),
                    sfn.Condition.number_less_than(f"{at}.waits", retry.rate_limit_max_waits),
                ),
                parse,
            )
            .otherwise(give_up)
        )
        return cause

    def _gate(self, settings: Settings, functions: Functions, spokes: sfn.DistributedMap) -> sfn.Choice:
        """Check before spawning: when the operation has an API budget and the wave needs more than is left,
        wait in a Wait state until the reset (no Lambda sleeps), then check again."""
        check = _invoke(
            self,
            "CheckBudget",
            functions.gate,
            {
                "run": sfn.JsonPath.object_at("$.run"),
                "wave": sfn.JsonPath.object_at("$.wave"),
                "waves": sfn.JsonPath.object_at("$.waves"),
                "count": sfn.JsonPath.number_at("$.count"),
            },
            GATE_TIMEOUT_SECONDS,
            settings.retry,
            api_errors=True,
            payload_response_only=True,
            result_path="$.wave",
        )
        # The check is advice: if it cannot be made, the wave goes and each spoke's Retry handles limits.
        check.add_catch(spokes, errors=[sfn.Errors.ALL], result_path="$.gate_error")
        wait = sfn.Wait(self, "WaitForBudget", time=sfn.WaitTime.seconds_path("$.wave.wait_seconds"))
        check.next(
            sfn.Choice(self, "BudgetAllows")
            .when(sfn.Condition.number_greater_than("$.wave.wait_seconds", 0), wait.next(check))
            .otherwise(spokes)
        )
        return (
            sfn.Choice(self, "NeedsBudgetCheck")
            .when(sfn.Condition.boolean_equals("$.budget_check", True), check)
            .otherwise(spokes)
        )

    def _acknowledge(self, storage: Storage, functions: Functions) -> None:
        """The state machine role's wildcards all come from CDK's own grants; each is named and explained."""
        machine = self.state_machine
        policy = cfn(machine.role.node.find_child("DefaultPolicy"))
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Tracing is enabled: xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules and "
            "GetSamplingTargets support no resource-level permissions (X-Ray IAM reference).",
        )
        for function in (functions.hub, functions.spoke, functions.gate, functions.summarize):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                f"LambdaInvoke grants lambda:InvokeFunction on the {function.node.id} function and its versions "
                "and aliases (<arn>:*); one function, no other.",
            )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<{logical_id(storage.bucket)}>/*]",
            "The Distributed Map's ItemReader reads the run manifest (S3JsonItemReader grants s3:GetObject) and its "
            "ResultWriter writes the children's results (s3:PutObject and multipart upload actions) in this stack's "
            "bucket, under keys chosen per run and per Map Run.",
        )
        execution = (
            'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":'
            f'[":",{{"Ref":"{logical_id(machine)}"}}]}}]}}'
        )
        map_policy = cfn(machine.node.find_child("DistributedMapPolicy"))
        for suffix in (":*", "/Spokes:*"):
            acknowledge(
                map_policy,
                f"AwsSolutions-IAM5[Resource::{execution}{suffix}]",
                "A Distributed Map starts and watches child executions of this same state machine; their "
                "names are generated per run, so CDK grants on this machine's executions only.",
            )
