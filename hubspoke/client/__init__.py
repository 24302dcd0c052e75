"""The operator client: one code path (boto3 calls on a Deployment) for a deployed stack and the embedded engine."""
