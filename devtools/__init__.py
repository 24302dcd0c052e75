"""Development tools that the product wheel does not ship (pyproject lists only hubspoke and stacks)."""
