"""The stack's outputs, recorded in moto's CloudFormation: the operator client discovers the embedded engine
with DescribeStacks, exactly as it discovers a deployed stack (hubspoke/client/deployment.py `discover`)."""

from __future__ import annotations

import json
from typing import Any

from hubspoke.synth import SynthesizedStack

STACK_NAME = "HubSpoke"  # the embedded engine's stack, as `--stack` names a deployed one
ALARM_TOPIC = "hubspoke-local-alarms"


def record_stack(cloudformation: Any, stack: SynthesizedStack, values: dict[str, str]) -> None:
    """Create the stack record with the synthesized template's outputs, each given its provisioned value.

    The alarm topic is the record's one resource (moto creates it), so AlarmTopicArn is a real ARN; every other
    output must be given in `values`, and an output the template adds without a value here fails loudly.
    """
    outputs = set(stack.template.get("Outputs", {}))
    missing = outputs - set(values) - {"AlarmTopicArn"}
    if missing:
        raise RuntimeError(f"the embedded engine has no value for the stack outputs {sorted(missing)}")
    template = {
        "Resources": {"AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": ALARM_TOPIC}}},
        "Outputs": {
            **{key: {"Value": values[key]} for key in sorted(outputs - {"AlarmTopicArn"})},
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
        },
    }
    cloudformation.create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(template))
