"""The ledger's sparse index of failed rows: its name and key, shared by the stack and the client.

Only a failed row carries FAILED_KEY (= its run_id; the state machine's RecordFailure sets it in the write that
marks the row failed), so the index holds a run's failures and nothing else: counting them reads the failed
rows only, however many targets succeeded. No CDK here, so the client imports it without jsii.
"""

from __future__ import annotations

FAILED_INDEX = "failed-by-run"
FAILED_KEY = "failed_run"
