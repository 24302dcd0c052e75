#!/usr/bin/env python3
"""CDK entry point: settings from cdk.json context -> HubSpokeStack."""

from __future__ import annotations

import sys
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.hubspoke_stack import HubSpokeStack
from stacks.settings import CONTEXT_KEY, SettingsError, load_settings
from stacks.target_role import add_target_role_stage

STACK_NAME = "HubSpoke"
# `cdk deploy -c stack_name=HubSpokeStaging` deploys a second copy beside the first: every name that must be
# unique in the account and region (alarms, dashboard, log groups) is derived from the stack name.
STACK_NAME_CONTEXT_KEY = "stack_name"


def create_app(**app_props: Any) -> tuple[cdk.App, HubSpokeStack]:
    """The app and its stack, not yet synthesized (`app_props` go to cdk.App: outdir, context).

    Raises SettingsError for bad settings.
    """
    app = cdk.App(**app_props)
    settings = load_settings(app.node.try_get_context(CONTEXT_KEY))
    name = str(app.node.try_get_context(STACK_NAME_CONTEXT_KEY) or STACK_NAME)
    stack = HubSpokeStack(app, name, settings=settings, description="HubSpoke: one operation across many targets")
    # The role each target account holds for this deployment, deployed there (stacks/target_role.py).
    add_target_role_stage(app, settings)
    # cdk-nag 3's convention: policy-validation plugins on the app. Every synth (`cdk synth`, `cdk deploy`)
    # checks every resource and fails on a finding not acknowledged with Validations.of(...).acknowledge.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, stack


def main() -> None:
    try:
        app, _ = create_app()
    except SettingsError as err:
        sys.stderr.write(f"{err}\n")
        raise SystemExit(2) from None
    app.synth()


if __name__ == "__main__":
    main()
