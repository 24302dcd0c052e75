"""The spoke: run one operation on one target and record the result in the ledger."""
