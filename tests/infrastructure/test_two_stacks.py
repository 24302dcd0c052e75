"""Two copies of the stack in one account and region: every name that must be unique there is derived from
the stack's name, so the second copy deploys beside the first."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from hubspoke.synth import _ensure_node_on_path, project_context
from stacks.hubspoke_stack import HubSpokeStack
from stacks.settings import CONTEXT_KEY, load_settings

from .conftest import load_app_module, resources

NAMES = ("HubSpokeBlue", "HubSpokeGreen")
# Names CloudFormation or the service keeps unique per account and region.
NAMED = {
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Logs::LogGroup": "LogGroupName",
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    context = project_context()
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("two")), context=context)
    settings = load_settings(context[CONTEXT_KEY])
    for name in NAMES:
        HubSpokeStack(app, name, settings=settings)
    assembly = app.synth()
    return {name: assembly.get_stack_by_name(name).template for name in NAMES}


def _literal(value: Any) -> str:
    """A name as written in the template: plain, or the literal parts of an Fn::Join."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        return "".join(p if isinstance(p, str) else "<token>" for p in value["Fn::Join"][1])
    return json.dumps(value)


def _names(template: dict[str, Any]) -> dict[str, list[str]]:
    return {
        type_: [_literal(r["Properties"][prop]) for r in resources(template, type_).values() if prop in r["Properties"]]
        for type_, prop in NAMED.items()
    }


def test_no_alarm_dashboard_or_log_group_name_is_shared(templates):
    blue, green = (_names(templates[name]) for name in NAMES)
    for type_ in NAMED:
        assert set(blue[type_]).isdisjoint(green[type_]), type_


def test_alarm_and_dashboard_names_carry_the_stack_name(templates):
    for name, template in templates.items():
        names = _names(template)
        assert len(names["AWS::CloudWatch::Alarm"]) == 9
        assert all(alarm.startswith(f"{name}-") for alarm in names["AWS::CloudWatch::Alarm"])
        assert names["AWS::CloudWatch::Dashboard"] == [name]


def test_the_state_machine_logs_to_a_vended_logs_group_named_after_the_stack(templates):
    # Under /aws/vendedlogs/ CloudWatch Logs needs no resource-policy entry per log group (the 5,120-character
    # resource-policy limit makes creating the state machine fail in busy accounts otherwise).
    for name, template in templates.items():
        (machine,) = resources(template, "AWS::StepFunctions::StateMachine").values()
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        group = _literal(template["Resources"][group_id]["Properties"]["LogGroupName"])
        assert group.startswith(f"/aws/vendedlogs/states/{name}-"), group


def test_cdk_context_names_a_second_copy(tmp_path):
    # GIVEN `cdk deploy -c stack_name=HubSpokeStaging` WHEN app.py builds the app
    _ensure_node_on_path()
    app_module = load_app_module()
    _, stack = app_module.create_app(
        outdir=str(tmp_path), context={**project_context(), "stack_name": "HubSpokeStaging"}
    )
    # THEN the stack and the names derived from it are the copy's
    assert stack.stack_name == "HubSpokeStaging"
    alarm = stack.monitoring.alarms["HubFailed"].node.default_child
    assert stack.resolve(alarm.alarm_name) == "HubSpokeStaging-HubFailed"


def test_every_synthesized_directory_holds_its_own_lambda_code(stack, watched_stack):
    """A second synth in one process (other settings, another cache directory) has the Lambda asset beside its
    template: CDK stages an asset once per process, and a CLI subprocess found no `shared` module there."""
    for synthesized in (stack, watched_stack):
        for logical_id in synthesized.resources("AWS::Lambda::Function"):
            assert (synthesized.asset_dir(logical_id) / "shared" / "caches.py").is_file(), logical_id
