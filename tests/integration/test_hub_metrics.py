"""The hub's alarm metric: HubFailed counts a hub that broke, never a request it rejected.

The deployed HubFailed alarm reads this metric (tests/infrastructure/test_monitoring.py), and the local run
evaluates the same metric from the same handler's EMF (hubspoke/alarms.py), so both agree by construction.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

import shared.aws
from hub.handler import handler
from shared.errors import InvalidRunRequest


def _hub_metrics(out: str) -> dict[str, float]:
    """Metric name -> value of the EMF documents the hub printed (dimension service only, as alarms read)."""
    values: dict[str, float] = {}
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        doc: dict[str, Any] = json.loads(line)
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [["service"]]
        for metric in directive["Metrics"]:
            raw = doc[metric["Name"]]  # Powertools writes a list when a document holds several values
            values[metric["Name"]] = values.get(metric["Name"], 0.0) + sum(raw if isinstance(raw, list) else [raw])
    return values


def test_a_rejected_request_is_counted_as_rejected_not_as_a_hub_failure(aws, context, capsys):
    # GIVEN a manual start with a bad target list WHEN the hub rejects it
    bad = {"operation": "noop", "source": {"type": "static", "targets": [7.5]}}
    with pytest.raises(InvalidRunRequest):
        handler({"request": bad, "execution_name": "bad-start"}, context)
    # THEN HubFailed (critical, pages on-call) stays 0 and the rejection is counted on its own
    metrics = _hub_metrics(capsys.readouterr().out)
    assert metrics["HubFailed"] == 0
    assert metrics["HubRejectedRequests"] == 1


def test_a_hub_that_breaks_is_counted_as_failed(aws, context, capsys, monkeypatch):
    # GIVEN a hub whose ledger write breaks (not the request's fault)
    def broken(**_: object) -> tuple[object, dict[str, Any]]:
        error = {"Error": {"Code": "InternalFailure", "Message": "simulated"}, "ResponseMetadata": {}}
        return SimpleNamespace(status_code=400, headers={}), error

    shared.aws.client("dynamodb").meta.events.register("before-call.dynamodb.BatchWriteItem", broken)
    good = {"operation": "noop", "source": {"type": "static", "targets": [{"id": "a"}]}}
    with pytest.raises(ClientError, match="InternalFailure"):
        handler({"request": good, "execution_name": "broken"}, context)
    metrics = _hub_metrics(capsys.readouterr().out)
    assert metrics["HubFailed"] == 1
    assert "HubRejectedRequests" not in metrics


def test_a_good_request_reports_no_failure(aws, context, capsys):
    handler({"request": {"operation": "noop", "source": {"type": "static", "targets": [{"id": "a"}]}}}, context)
    metrics = _hub_metrics(capsys.readouterr().out)
    assert metrics["HubFailed"] == 0
    assert "HubRejectedRequests" not in metrics
