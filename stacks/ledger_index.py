"""The ledger's sparse index of failed rows: its name and key, shared by the stack and the client.

Only a failed row carries FAILED_KEY (= its run_id; the state machine's RecordFailure sets it in the write that
marks the row failed), so the index holds a run's failures and nothing else: counting them reads the failed
rows only, however many targets succeeded. No CDK here, so the client imports it without jsii.
"""

from __future__ import annotations

FAILED_INDEX = "failed-by-run"
FAILED_KEY = "failed_run"

# The run's counters item (failures; successes for a percentage circuit breaker): key "<run_id>#counters" /
# "counters", a partition of its own so a query of the run's rows never counts it as a target. The hub seeds
# it, the state machine's CountFailure adds to it, ReadCanaryFailures and each spoke read it
# (lambdas/shared/ledger.py holds the same two values; tests/unit/test_contract.py checks they agree).
COUNTERS_SUFFIX = "#counters"
COUNTERS_SORT_KEY = "counters"
