"""Failure recording: a DynamoDB task (no Lambda) marks the target's ledger row failed, never over a success."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.ledger_index import COUNTERS_SORT_KEY, COUNTERS_SUFFIX, FAILED_KEY
from stacks.workflow.errors import DYNAMODB_RETRYABLE_ERRORS, DYNAMODB_TASK_TIMEOUT_SECONDS, EMPTY_OUTPUT


def _string(path: str) -> tasks.DynamoAttributeValue:
    return tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at(path))


def _status(value: str) -> tasks.DynamoAttributeValue:
    return tasks.DynamoAttributeValue.from_string(value)


def _update_failed_row(scope: Construct, ledger: dynamodb.ITable) -> tasks.DynamoUpdateItem:
    """SET status failed with the caught error ($.error) on the row of this run and target, and the failed
    index's key (the run id): in one write, so a row is in the index exactly when it is failed."""
    return tasks.DynamoUpdateItem(
        scope,
        "RecordFailure",
        table=ledger,
        key={"run_id": _string("$.run.run_id"), "target_id": _string("$.target.id")},
        # Never overwrite a terminal success: a late failure after a recorded success changes nothing.
        condition_expression="attribute_exists(run_id) AND NOT (#s IN (:succeeded, :unchanged, :skipped))",
        update_expression=(
            f"SET #s = :failed, {FAILED_KEY} = :run, error_type = :error, cause = :cause, updated_at = :now, "
            "attempts = if_not_exists(attempts, :one)"
        ),
        expression_attribute_names={"#s": "status"},
        expression_attribute_values={
            ":failed": _status("failed"),
            ":run": _string("$.run.run_id"),
            ":succeeded": _status("succeeded"),
            ":unchanged": _status("unchanged"),
            ":skipped": _status("skipped"),
            ":error": _string("$.error.Error"),
            ":cause": _string("$.error.Cause"),
            ":now": _string("$$.State.EnteredTime"),
            ":one": tasks.DynamoAttributeValue.from_number(1),
        },
        # The input goes on to CountFailure (it needs $.run); the child still ends with {} (CountFailure's).
        result_path=sfn.JsonPath.DISCARD,
        task_timeout=sfn.Timeout.duration(Duration.seconds(DYNAMODB_TASK_TIMEOUT_SECONDS)),
    )


def counters_key() -> dict[str, tasks.DynamoAttributeValue]:
    """The run's counters item (lambdas/shared/ledger.py, counters_key): partition "<run_id>#counters"."""
    return {
        "run_id": tasks.DynamoAttributeValue.from_string(
            sfn.JsonPath.format(f"{{}}{COUNTERS_SUFFIX}", sfn.JsonPath.string_at("$.run.run_id"))
        ),
        "target_id": _status(COUNTERS_SORT_KEY),
    }


def _count_failure(scope: Construct, ledger: dynamodb.ITable) -> tasks.DynamoUpdateItem:
    """ADD 1 to the run's failure counter, which the canary verdict and the spokes' circuit breaker read. Only
    an item the hub seeded (a run with a canary or a breaker) is counted: no stray item for other runs."""
    count = tasks.DynamoUpdateItem(
        scope,
        "CountFailure",
        table=ledger,
        key=counters_key(),
        condition_expression="attribute_exists(run_id)",
        update_expression="ADD failures :one",
        expression_attribute_values={":one": tasks.DynamoAttributeValue.from_number(1)},
        result_selector=EMPTY_OUTPUT,
        task_timeout=sfn.Timeout.duration(Duration.seconds(DYNAMODB_TASK_TIMEOUT_SECONDS)),
    )
    count.add_retry(errors=DYNAMODB_RETRYABLE_ERRORS, interval=Duration.seconds(1), backoff_rate=2.0, max_attempts=3)
    # The failure row is written; a count that cannot be made (no counters item: the run has no canary or
    # breaker) must not fail the child. A lost count only makes the breaker open one failure later.
    count.add_catch(
        sfn.Pass(scope, "FailureNotCounted", result=sfn.Result.from_object(EMPTY_OUTPUT)), errors=[sfn.Errors.ALL]
    )
    return count


def record_failure(scope: Construct, ledger: dynamodb.ITable) -> tasks.DynamoUpdateItem:
    """The failure row's task; it ends the Map child with {} whatever happens to the write."""
    record = _update_failed_row(scope, ledger)
    record.add_retry(errors=DYNAMODB_RETRYABLE_ERRORS, interval=Duration.seconds(1), backoff_rate=2.0, max_attempts=5)
    already_recorded = sfn.Pass(scope, "SuccessAlreadyRecorded", result=sfn.Result.from_object(EMPTY_OUTPUT))
    # If even the failure row cannot be written, the row stays pending and Summarize counts it lost.
    unrecorded = sfn.Pass(scope, "FailureNotRecorded", result=sfn.Result.from_object(EMPTY_OUTPUT))
    record.add_catch(already_recorded, errors=["DynamoDB.ConditionalCheckFailedException"])
    record.add_catch(unrecorded, errors=[sfn.Errors.ALL])
    record.next(_count_failure(scope, ledger))
    return record
