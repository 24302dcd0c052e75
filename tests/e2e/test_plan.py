"""A dry run on the whole workflow: the plan is the execution's output and the only thing written; its cost estimate
against a figure computed by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubspoke.plan import plan_from_output, read_plan

pytestmark = pytest.mark.e2e
BUCKET = "hubspoke-local"


def targets(count: int) -> list[dict[str, str]]:
    return [{"id": f"t{i:05d}"} for i in range(count)]


def output(engine, result) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(engine.sfn.describe_execution(executionArn=result.execution_arn)["output"])
    return found


def claim_items(engine) -> list[dict[str, Any]]:
    (table,) = [t for t in engine.dynamodb.list_tables()["TableNames"] if "idempotency" in t]
    items: list[dict[str, Any]] = engine.dynamodb.scan(TableName=table)["Items"]
    return items


def test_a_dry_run_writes_only_its_plan_and_starts_no_spoke(engine):
    # GIVEN 25 targets in waves of 10 WHEN the run is asked as a dry run
    request = engine.manifest_request("planned-1", targets(25), wave_size=10, dry_run=True)
    result = engine.run(request, execution_name="planned-1-plan")
    # THEN the execution succeeds with the plan as its output
    assert result.status == "SUCCEEDED"
    out = output(engine, result)
    assert out["outcome"] == "planned"
    plan = plan_from_output(out)
    assert (plan["count"], plan["waves"]["count"], plan["waves"]["sizes"]) == (25, 3, [10, 10, 5])
    assert plan["first_targets"] == [f"t{i:05d}" for i in range(10)]
    assert plan["api_budget"] is None  # noop calls no rate-limited API
    assert read_plan(engine.s3, BUCKET, "planned-1") == plan
    # AND nothing else was written or run: no spoke, no ledger row, no manifest, no report, no claim
    assert result.spoke_invocations == 0
    assert engine.ledger("planned-1") == []
    assert engine.objects("runs/") == []
    assert engine.objects("reports/") == []
    assert claim_items(engine) == []
    # AND the real run with the same run id afterwards runs every target
    real = engine.run({**request, "dry_run": False}, execution_name="planned-1")
    assert real.status == "SUCCEEDED"
    assert real.spoke_invocations == 25
    assert real.summary is not None
    assert real.summary["succeeded"] == 25


def test_the_estimate_for_10000_noop_targets_at_the_defaults(engine):
    # GIVEN 10,000 noop targets and the deployment's defaults (cdk.json: 512 MB, no waves: one wave)
    result = engine.run(engine.manifest_request("big-plan", targets(10_000), dry_run=True))
    assert result.status == "SUCCEEDED"
    cost = plan_from_output(output(engine, result))["cost"]
    # THEN, counted by hand from the workflow (Standard, us-east-1 prices of 2026-11):
    # state transitions: 2 per target (the child start, Spoke) + 5 for the wave + 7 for the run
    transitions = 2 * 10_000 + 5 + 7  # 20,012
    # Lambda: hub + summarize + 10,000 spokes; GB-seconds at 0.5 GB: hub 1 + 10,000 x 0.0005 = 6 s, summarize
    # 1 + 10,000 x 0.0002 = 3 s, each noop spoke 0.05 s
    requests = 10_002
    gb_seconds = 0.5 * (6 + 3 + 10_000 * 0.05)  # 254.5
    # DynamoDB: the claim, 10,000 pending rows, 10,000 finished rows; reads: 10,000 rows x 256 B / 4 KB
    writes, reads = 20_001, 625
    # S3: PUTs: manifest, 1 wave manifest, the Map's manifest and results file, the report; GET: the wave manifest
    puts, gets = 5, 1
    assert cost["usage"] == {
        "state_transitions": transitions,
        "lambda_requests": requests,
        "lambda_gb_seconds": gb_seconds,
        "dynamodb_write_units": writes,
        "dynamodb_read_units": reads,
        "s3_puts": puts,
        "s3_gets": gets,
    }
    expected = {
        "step_functions": 20_012 * 0.025 / 1000,  # 0.5003
        "lambda": 10_002 * 0.20 / 1e6 + 254.5 * 0.0000166667,  # 0.0020004 + 0.00424167...
        "dynamodb": 20_001 * 0.625 / 1e6 + 625 * 0.125 / 1e6,  # 0.012500625 + 0.000078125
        "s3": 5 * 0.005 / 1000 + 1 * 0.0004 / 1000,  # 0.000025 + 0.0000004
    }
    assert cost["usd"] == pytest.approx({**expected, "total": 0.519146225}, rel=1e-6)
    assert cost["prices_as_of"] == "2026-11"


def test_the_estimate_counts_the_canarys_verdict_and_adaptive_concurrencys_gate(engine):
    # GIVEN 100 targets, a canary of 10, the rest in waves of 30: four waves (10, 30, 30, 30)
    canary = engine.manifest_request("canary-plan", targets(100), dry_run=True, wave_size=30, canary={"targets": 10})
    usage = plan_from_output(output(engine, engine.run(canary)))["cost"]["usage"]
    # THEN, by hand: 2 per target (200), 5 per wave (20), 3 pauses (CanaryPause and two WavePauses), 7 for the
    # run, and the canary's ReadCanaryFailures and CanaryVerdict: 232
    assert usage["state_transitions"] == 200 + 20 + 3 + 7 + 2
    # DynamoDB: the claim, 100 pending and 100 finished rows, the counters item; reads: 100 x 256 B / 4 KB
    # rounded up (7) and the verdict's one read
    assert (usage["dynamodb_write_units"], usage["dynamodb_read_units"]) == (202, 8)
    assert usage["lambda_requests"] == 102  # hub, summarize, 100 spokes
    # AND with adaptive concurrency too: the gate before each of the 4 waves (CheckBudget, BudgetAllows: 8 more)
    adaptive = {**canary, "run_id": "adaptive-plan", "adaptive_concurrency": True}
    usage = plan_from_output(output(engine, engine.run(adaptive)))["cost"]["usage"]
    assert usage["state_transitions"] == 232 + 8
    assert usage["lambda_requests"] == 102 + 4
    # the gate records each wave's concurrency (4 writes) and reads the counters before waves 2 to 4 (3 reads)
    assert (usage["dynamodb_write_units"], usage["dynamodb_read_units"]) == (206, 11)


def test_a_bad_dry_run_fails_at_the_hub_naming_the_field(engine):
    request = engine.manifest_request("bad-plan", targets(3), dry_run=True, max_concurrency=0)
    result = engine.run(request)
    assert (result.status, result.error) == ("FAILED", "InvalidRunRequest")
    assert "max_concurrency" in result.cause
    assert engine.objects("plans/") == []


def test_cli_dry_run_prints_the_plan_and_exits_0(cli, tmp_path):
    plan_file = tmp_path / "plan.json"
    result = cli("--targets", "12", "--wave-size", "5", "--dry-run", "--summary-json", str(plan_file))
    assert result.exit_code == 0, result.output
    assert "PLANNED" in result.output
    assert "Step Functions state transitions" in result.output
    plan = json.loads(plan_file.read_text())
    assert (plan["count"], plan["waves"]["sizes"]) == (12, [5, 5, 2])


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--params-json", '{"sleep_ms": -1}'), "params.sleep_ms"),
        (("--wave-size", "1", "--targets", "1001"), "wave_size"),
    ],
)
def test_cli_dry_run_exits_2_on_a_bad_request_naming_the_field(cli, args, field):
    base = () if "--targets" in args else ("--targets", "3")
    result = cli(*base, *args, "--dry-run")
    assert result.exit_code == 2
    assert field in result.output.replace("\n", "")
