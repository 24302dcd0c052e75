"""The hub: validate the run request, discover targets, write the manifest, seed the ledger."""
