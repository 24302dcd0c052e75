"""The rate-limit gate function."""
