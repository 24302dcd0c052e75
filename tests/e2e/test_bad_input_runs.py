"""The bad-input corpus on the whole workflow: a failed execution before any spoke, and no side effects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
CORPUS = json.loads((Path(__file__).parents[1] / "events" / "bad_requests.json").read_text())


def test_every_bad_request_fails_at_the_hub_with_nothing_done(engine):
    for index, case in enumerate(CORPUS):
        result = engine.run(case["request"], execution_name=f"bad-{index}")
        assert (result.status, result.error) == ("FAILED", "InvalidRunRequest"), case["name"]
        assert case["field"] in result.cause, (case["name"], result.cause)
    # Nothing anywhere: no spoke ran, no ledger row, no manifest, no report.
    assert engine.runtime.function(engine.spoke_function).stats.invocations == 0
    assert engine.dynamodb.scan(TableName=engine.table_name)["Count"] == 0
    assert engine.objects("runs/") == []
    assert engine.objects("reports/") == []


PARAM_CASES = [c for c in CORPUS if c["field"].startswith("params") and isinstance(c["request"].get("params"), dict)]


@pytest.mark.parametrize("case", PARAM_CASES, ids=[c["name"] for c in PARAM_CASES])
def test_cli_exits_2_on_bad_params(cli, case):
    result = cli("--targets", "3", "--params-json", json.dumps(case["request"]["params"]))
    assert result.exit_code == 2
    assert case["field"] in result.output.replace("\n", "")
