"""The HubSpoke CDK stack and its constructs, one per concern."""
