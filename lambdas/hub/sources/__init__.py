"""Discovery sources, one module each; the registry is shared.sources."""
