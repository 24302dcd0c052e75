"""Summarize: read the run's ledger, write the report, emit metrics, decide the outcome."""
