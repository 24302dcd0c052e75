"""Which deployed alarms a local run would fire: the same specs (stacks/alarms.py), expressions and
thresholds, evaluated on the run's EMF output and its execution's outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hubspoke.engine import RunResult
from stacks.alarms import (
    EVENTS_NAMESPACE,
    SERVICE,
    SQS_NAMESPACE,
    STATES_NAMESPACE,
    AlarmSpec,
    MetricRef,
    breaches,
    evaluate,
)

_STATUS_METRICS = {"ExecutionsFailed": "FAILED", "ExecutionsTimedOut": "TIMED_OUT", "ExecutionsAborted": "ABORTED"}
_SYMBOL = {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">="}
_NEGATION = {"GreaterThanThreshold": "<=", "GreaterThanOrEqualToThreshold": "<"}


@dataclass(frozen=True)
class AlarmState:
    name: str
    severity: str
    state: str  # ALARM | OK
    value: float | None
    threshold: float
    comparison: str
    unit: str

    def describe(self) -> str:
        if self.value is None:
            return f"{self.name}: {self.state} (no data)"
        # The relation that holds: the alarm's comparison when in ALARM, its negation when OK.
        holds = _SYMBOL[self.comparison] if self.state == "ALARM" else _NEGATION[self.comparison]
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name}: {self.state} ({_number(self.value)}{unit} {holds} {_number(self.threshold)}{unit})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _emf_values(emf: list[dict[str, Any]], ref: MetricRef) -> list[float]:
    """Values of a metric with exactly the alarm's dimension set ({service}) in the EMF documents."""
    values: list[float] = []
    for doc in emf:
        for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
            if directive.get("Namespace") != ref.namespace or directive.get("Dimensions") != [["service"]]:
                continue
            if doc.get("service") != SERVICE:
                continue
            if any(m.get("Name") == ref.name for m in directive.get("Metrics", [])):
                raw = doc.get(ref.name)
                values.extend(float(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None)
    return values


def _value(ref: MetricRef, result: RunResult) -> float | None:
    if ref.namespace in (EVENTS_NAMESPACE, SQS_NAMESPACE):
        return None  # a local run is started directly: no delivery, no dead letters
    if ref.namespace == STATES_NAMESPACE:
        if ref.name in _STATUS_METRICS:
            return 1.0 if result.status == _STATUS_METRICS[ref.name] else 0.0
        if ref.name == "ExecutionTime":
            return result.simulated_seconds * 1000
        raise ValueError(f"no local value for {ref.namespace}/{ref.name}")
    values = _emf_values(result.emf, ref)
    if not values:
        return None
    return sum(values) if ref.statistic == "Sum" else max(values)


def evaluate_alarms(specs: list[AlarmSpec], result: RunResult) -> list[AlarmState]:
    """Each alarm's state for this run, as if the run were the alarm's only evaluation period."""
    states = []
    for spec in specs:
        values = {name: _value(ref, result) for name, ref in spec.metrics.items()}
        value = evaluate(spec.expression, {k: v for k, v in values.items() if v is not None})
        state = "ALARM" if value is not None and breaches(spec, value) else "OK"  # missing data: not breaching
        states.append(
            AlarmState(spec.name, spec.severity, state, value, spec.threshold, spec.comparison, spec.unit_label)
        )
    return states


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:g}"
