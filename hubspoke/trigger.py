"""EventBridge, locally: the synthesized rule's pattern (matched with moto's own matcher) and its input
transformer, applied to an event, give the run request the deployed rule would start."""

from __future__ import annotations

import json
import re
from typing import Any

from hubspoke.synth import SynthesizedStack

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


def rules_targeting(stack: SynthesizedStack, state_machine_id: str) -> list[dict[str, Any]]:
    """The event-pattern rules whose target is the state machine."""
    return [
        rule["Properties"]
        for rule in stack.resources("AWS::Events::Rule").values()
        if "EventPattern" in rule["Properties"]
        and any(t.get("Arn") == {"Ref": state_machine_id} for t in rule["Properties"].get("Targets", []))
    ]


def matches(rule: dict[str, Any], event: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern

    if rule.get("State", "ENABLED") != "ENABLED":
        return False
    return bool(EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(event))  # type: ignore[arg-type]


_MISSING = object()


class InvalidTargetInputError(ValueError):
    """The input transformer made text that is not JSON; Step Functions' StartExecution refuses it
    (InvalidExecutionInput), so on AWS the event is retried and then lands in the rule's dead-letter queue."""


def _path(event: Any, path: str) -> Any:
    value = event
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def transform(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """Apply the target's InputTransformer as EventBridge does: a placeholder inside a JSON string takes
    the raw value; elsewhere it takes the value as JSON. A path the event lacks creates no variable and its
    placeholder renders as nothing (EventBridge user guide, "Common issues with transforming input"), so
    `"tag":<tag>` becomes `"tag":,` and the result is not JSON: InvalidTargetInputError."""
    transformer = target.get("InputTransformer")
    if transformer is None:
        return event
    paths: dict[str, str] = transformer.get("InputPathsMap", {})
    values = {name: _path(event, path) for name, path in paths.items()}
    template: str = transformer["InputTemplate"]
    out: list[str] = []
    in_string = False
    index = 0
    while index < len(template):
        char = template[index]
        match = _PLACEHOLDER.match(template, index) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if value is not _MISSING:
                out.append(str(value) if in_string and value is not None else json.dumps(value))
            index = match.end()
            continue
        if char == '"' and (index == 0 or template[index - 1] != "\\"):
            in_string = not in_string
        out.append(char)
        index += 1
    text = "".join(out)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        missing = sorted(f"{name} ({paths[name]})" for name, value in values.items() if value is _MISSING)
        raise InvalidTargetInputError(
            f"the input transformer made invalid JSON ({err.msg} at {err.pos}); not in the event: "
            f"{', '.join(missing) or 'nothing'}: {text}"
        ) from None
