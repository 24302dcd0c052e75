#!/usr/bin/env python3
"""CDK entry point: settings from cdk.json context -> HubSpokeStack."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from stacks.hubspoke_stack import HubSpokeStack
from stacks.settings import CONTEXT_KEY, SettingsError, load_settings


def main() -> None:
    app = cdk.App()
    try:
        settings = load_settings(app.node.try_get_context(CONTEXT_KEY))
    except SettingsError as err:
        sys.stderr.write(f"{err}\n")
        raise SystemExit(2) from None
    HubSpokeStack(app, "HubSpoke", settings=settings, description="HubSpoke: one operation across many targets")
    app.synth()


if __name__ == "__main__":
    main()
