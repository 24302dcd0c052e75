"""Error names are the contract with Step Functions: the workflow and the Lambdas must agree."""

from __future__ import annotations

from shared import errors
from stacks import workflow


def test_retried_error_names_are_the_exception_class_names():
    assert errors.RateLimitError.__name__ == workflow.RATE_LIMIT_ERROR
    assert errors.TransientError.__name__ == workflow.TRANSIENT_ERROR
    assert errors.RETRYABLE_ERRORS == (workflow.RATE_LIMIT_ERROR, workflow.TRANSIENT_ERROR)
    assert tuple(workflow.LAMBDA_SERVICE_ERRORS) == errors.LAMBDA_SERVICE_ERRORS


def test_target_errors_are_not_retryable():
    assert not issubclass(errors.TargetError, (errors.RateLimitError, errors.TransientError))


def test_the_counters_item_key_is_the_same_for_the_stack_and_the_lambdas():
    from shared import ledger
    from stacks import ledger_index

    assert (ledger.COUNTERS_SUFFIX, ledger.COUNTERS_SORT_KEY) == (
        ledger_index.COUNTERS_SUFFIX,
        ledger_index.COUNTERS_SORT_KEY,
    )
    assert ledger.counters_key("r-1") == {"run_id": {"S": "r-1#counters"}, "target_id": {"S": "counters"}}
