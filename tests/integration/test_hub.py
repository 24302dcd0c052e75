"""The hub handler on moto: validation before any write, discovery sources, manifest and ledger seeding."""

from __future__ import annotations

import json
import time

import pytest

import shared.caches
from hub.handler import handler
from shared.errors import InvalidRunRequest

from .conftest import BUCKET


def static(*ids: str, **extra):
    return {"operation": "noop", "source": {"type": "static", "targets": [{"id": i} for i in ids]}, **extra}


def test_static_run_writes_manifest_and_seeds_pending_rows(aws, context):
    # GIVEN three static targets WHEN the hub runs
    out = handler({"request": static("a", "b", "c"), "execution_name": "exec-1"}, context)
    # THEN it returns the run (id from the execution name), the manifest and the defaults
    assert out["run"] == {"run_id": "exec-1", "operation": "noop", "params": {}}
    assert out["manifest"] == {"bucket": BUCKET, "key": "runs/exec-1/manifest.json"}
    assert (out["count"], out["max_concurrency"], out["failure_threshold_percent"]) == (3, 10, 0.0)
    manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=out["manifest"]["key"])["Body"].read())
    assert manifest == [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    rows = aws.rows("exec-1")
    assert sorted(rows) == ["a", "b", "c"]
    assert {r.status for r in rows.values()} == {"pending"}


def test_per_run_overrides_are_returned(aws, context):
    out = handler(
        {"request": static("a", run_id="r1", max_concurrency=3, failure_threshold_percent=15), "execution_name": "x"},
        context,
    )
    assert (out["run"]["run_id"], out["max_concurrency"], out["failure_threshold_percent"]) == ("r1", 3, 15.0)


def test_rows_carry_a_ttl(aws, context):
    # The handler seeds with the deployment's ledger_ttl_days (30 in the test environment).
    before = int(time.time())
    handler({"request": static("a"), "execution_name": "r"}, context)
    after = int(time.time())
    item = aws.dynamodb.get_item(TableName="ledger-test", Key={"run_id": {"S": "r"}, "target_id": {"S": "a"}})["Item"]
    assert before + 30 * 86400 <= int(item["expires_at"]["N"]) <= after + 30 * 86400


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (static("a", "a"), "source.targets: duplicate target ids: 'a'"),
        ({**static("a"), "operation": "nope"}, "operation: unknown operation 'nope'"),
        ({**static("a"), "params": {"sleep_ms": -5}}, "params.sleep_ms"),
        ({"operation": "noop", "source": {"type": "ftp"}}, "source.type: unknown source 'ftp'"),
        ({"operation": "noop", "source": {"type": "static", "targets": [{"name": "x"}]}}, "source.targets[0].id"),
        ({"operation": "noop", "source": {"type": "static", "targets": ["a"]}}, "source.targets[0]"),
        ({"operation": "noop", "source": {"type": "s3-manifest", "bucket": BUCKET, "key": "../x"}}, "source.key"),
        (static("a", max_concurrency=-1), "max_concurrency"),
    ],
)
def test_invalid_request_names_the_field_and_writes_nothing(aws, context, request_, field):
    with pytest.raises(InvalidRunRequest) as err:
        handler({"request": request_, "execution_name": "bad"}, context)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems
    assert aws.keys() == []
    assert aws.rows("bad") == {}


def test_a_run_asking_for_more_than_the_ceiling_for_all_runs_is_refused_before_any_write(aws, context, monkeypatch):
    # GIVEN a deployment whose spokes may run 8 at once for all runs together (settings max_total_concurrency)
    monkeypatch.setenv("MAX_TOTAL_CONCURRENCY", "8")
    shared.caches.reset_all()
    arn = "arn:aws:states:us-east-1:123456789012:execution:HubSpoke:greedy"
    # WHEN a run asks for 9 THEN it is refused naming max_concurrency and the ceiling; nothing written, no claim
    with pytest.raises(InvalidRunRequest) as err:
        handler({"request": static("a", run_id="greedy", max_concurrency=9), "execution_id": arn}, context)
    assert err.value.problems == [
        "max_concurrency: 9 is over the deployment's max_total_concurrency (8), the ceiling for all runs together: "
        "ask for at most that"
    ]
    assert aws.keys() == []
    assert aws.rows("greedy") == {}
    assert aws.dynamodb.scan(TableName="idempotency-test")["Count"] == 0
    # AND a run asking for 8 runs, and a plan states the ceiling it shares with other runs
    assert (
        handler({"request": static("a", run_id="fits", max_concurrency=8), "execution_name": "f"}, context)[
            "max_concurrency"
        ]
        == 8
    )
    plan = handler({"request": static("a", run_id="p8", dry_run=True), "execution_name": "p"}, context)["plan"]
    assert plan["max_total_concurrency"] == 8


def test_without_a_ceiling_a_run_may_ask_for_the_map_maximum(aws, context):
    out = handler({"request": static("a", max_concurrency=10000), "execution_name": "wide"}, context)
    assert out["max_concurrency"] == 10000
    plan = handler({"request": static("a", run_id="p", dry_run=True), "execution_name": "p"}, context)["plan"]
    assert plan["max_total_concurrency"] is None


def test_zero_targets_is_a_valid_run(aws, context):
    out = handler({"request": static(), "execution_name": "empty"}, context)
    assert out["count"] == 0
    assert json.loads(aws.s3.get_object(Bucket=BUCKET, Key=out["manifest"]["key"])["Body"].read()) == []


def test_s3_manifest_json_and_csv(aws, context):
    aws.s3.put_object(Bucket=BUCKET, Key="inputs/t.json", Body=json.dumps([{"id": "x", "team": "a"}, {"id": "y"}]))
    aws.s3.put_object(Bucket=BUCKET, Key="inputs/t.csv", Body="id,team\nx,a\ny,b\n")
    for key, run in (("inputs/t.json", "rj"), ("inputs/t.csv", "rc")):
        request = {"operation": "noop", "source": {"type": "s3-manifest", "bucket": BUCKET, "key": key}}
        out = handler({"request": request, "execution_name": run}, context)
        assert out["count"] == 2
        manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=out["manifest"]["key"])["Body"].read())
        assert manifest[0] == {"id": "x", "team": "a"}


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("inputs/missing.json", None, "cannot read"),
        ("inputs/bad.json", "{not json", "is not valid JSON"),
        ("inputs/obj.json", '{"id": "a"}', "must hold a JSON array"),
        ("inputs/noid.csv", "name\nx\n", "must be CSV with an 'id' column"),
        ("inputs/dup.csv", "id\nx\nx\n", "duplicate target ids"),
    ],
)
def test_bad_manifest_object_is_an_input_error(aws, context, key, body, message):
    if body is not None:
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    request = {"operation": "noop", "source": {"type": "s3-manifest", "bucket": BUCKET, "key": key}}
    with pytest.raises(InvalidRunRequest, match=message):
        handler({"request": request, "execution_name": "bad"}, context)
    assert aws.keys("runs/") == []
    assert aws.rows("bad") == {}


def test_a_dry_run_writes_its_plan_and_nothing_else(aws, context):
    # GIVEN a dry run of three targets, started by the state machine (it has an execution ARN to claim with)
    arn = "arn:aws:states:us-east-1:123456789012:execution:HubSpoke:p"
    out = handler({"request": static("a", "b", "c", run_id="p", dry_run=True), "execution_id": arn}, context)
    # THEN the output is the plan, written to plans/<run_id>.json and nowhere else: no manifest, no row, no claim
    assert out["outcome"] == "planned"
    assert out["location"] == {"bucket": BUCKET, "key": "plans/p.json"}
    assert (out["plan"]["count"], out["plan"]["first_targets"]) == (3, ["a", "b", "c"])
    assert aws.keys() == ["plans/p.json"]
    assert aws.rows("p") == {}
    assert aws.dynamodb.scan(TableName="idempotency-test")["Count"] == 0


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_dry_run_must_be_a_boolean(aws, context, value):
    with pytest.raises(InvalidRunRequest) as err:
        handler({"request": static("a", dry_run=value), "execution_name": "bad"}, context)
    assert any(p.startswith("dry_run") for p in err.value.problems), err.value.problems
    assert aws.keys() == []


def test_a_github_plan_states_the_api_budget_and_the_gates_cost(aws, context):
    # GIVEN a github-file-sync dry run: 3 repositories in waves of 2, two files and a label
    params = {
        "files": [{"path": "a.txt", "content": "a"}, {"path": "b.txt", "content": "b"}],
        "branch": "hubspoke/sync",
        "title": "sync",
        "labels": ["automated"],
    }
    request = {
        "operation": "github-file-sync",
        "params": params,
        "source": {"type": "static", "targets": [{"id": f"acme/r{i}"} for i in range(3)]},
        "wave_size": 2,
        "dry_run": True,
    }
    plan = handler({"request": request, "execution_name": "gh-plan"}, context)["plan"]
    # THEN at most 7 + 3 x 2 files + 1 for labels = 14 GitHub requests a target: 42 for the run, 28 in the
    # larger wave; GitHub's default concurrency (2)
    assert plan["api_budget"] == {"requests_per_target": 14, "requests": 42, "largest_wave_requests": 28}
    assert (plan["max_concurrency"], plan["waves"]["sizes"]) == (2, [2, 1])
    # AND the estimate counts the gate: 7 per run + 2 waves x 5 + 1 pause + 2 checks x 2 + 3 targets x 2 = 28
    # transitions; Lambda: hub, summarize, 2 gate checks, 3 spokes; a spoke is 14 requests x 0.3 s = 4.2 s
    usage = plan["cost"]["usage"]
    assert (usage["state_transitions"], usage["lambda_requests"]) == (28, 7)
    # 512 MB: hub 1 + 3 x 0.0005, summarize 1 + 3 x 0.0002, gate 2 x 0.5, spokes 3 x 4.2 s
    assert usage["lambda_gb_seconds"] == pytest.approx(0.5 * (1.0015 + 1.0006 + 1.0 + 12.6))
    assert aws.keys() == ["plans/gh-plan.json"]
