"""Code shared by the hub, spoke and summarize functions: models, errors, ledger, observability."""
