"""The indexer: rebuilds the image index (repository -> ECS services) on a schedule."""
