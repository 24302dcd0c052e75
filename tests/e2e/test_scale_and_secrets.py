"""Scale (a smaller version of benchmarks/bench_scale.py) and the no-secret-anywhere scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubspoke.engine import ROLE_ARN, LocalEngine
from tests.e2e.conftest import spokes_held_until_running

pytestmark = pytest.mark.e2e
STATE_LIMIT = 262_144  # bytes, Step Functions' state input/output limit


def test_two_thousand_targets_exact_summary_and_small_payloads(stack, tmp_path):
    # GIVEN 2,000 targets, 1 % failing, a long parameter list travelling with every spoke, on an engine whose
    # clock runs at a tenth
    with LocalEngine(stack, time_scale=0.1, log_path=tmp_path / "lambda.log") as engine:
        _two_thousand(engine, tmp_path / "lambda.log")


def _what_went_wrong(engine: LocalEngine, failing: list[str], log: Path) -> str:
    """Every row that is neither an injected failure nor a success, with the log lines that name its target:
    a loaded run once had 21 failed and once 1 lost, and a bare count told nothing about why."""
    odd = [r for r in engine.ledger("big") if r["status"] != "succeeded" and r["target_id"] not in failing]
    lines = log.read_text().splitlines() if log.exists() else []
    return "\n".join(
        f"{row}\n" + "\n".join(line[:600] for line in lines if row["target_id"] in line)[-6000:] for row in odd
    )


def _two_thousand(engine: LocalEngine, log: Path) -> None:
    targets = [f"target-{i:05d}" for i in range(2000)]
    failing = targets[::100]
    source = engine.put_input("inputs/big.json", json.dumps([{"id": t, "team": "x" * 50} for t in targets]).encode())
    request = {
        "run_id": "big",
        "operation": "noop",
        # 2 s of simulated work (200 ms real) each, so a hundred spokes really overlap: with none, the peak
        # depended on thread scheduling and once read 90 on a busy machine.
        "params": {"fail_ids": failing, "sleep_ms": 2000},
        "source": {"type": "s3-manifest", **source},
        "max_concurrency": 100,
    }
    with spokes_held_until_running(engine, 100):
        result = engine.run(request)
    summary = result.summary
    assert summary is not None
    # THEN nothing is lost and the counts are exact
    counts = (summary["total"], summary["succeeded"], summary["failed"], summary["lost"])
    assert counts == (2000, 1980, 20, 0), _what_went_wrong(engine, failing, log)
    assert len(summary["failed_targets"]) == 20
    assert result.peak_concurrency == 100
    # AND no state payload comes near the 256 KB limit
    size, where = engine.largest_payload(result.execution_arn)
    assert size < STATE_LIMIT / 8, where


def test_no_secret_in_logs_payloads_ledger_or_reports(stack, tmp_path):
    log = tmp_path / "lambda.log"
    with LocalEngine(stack, time_scale=0.01, log_path=log) as engine:
        result = engine.run(
            {
                "run_id": "secret-scan",
                "operation": "noop",
                "params": {"fail_ids": ["b"], "rate_limit_ids": ["c"]},
                "source": {"type": "static", "targets": [{"id": i} for i in "abcd"]},
            }
        )
        history = json.dumps(engine.history(result.execution_arn), default=str)
        ledger = json.dumps(engine.ledger("secret-scan"))
        objects = "".join(
            engine.s3.get_object(Bucket="hubspoke-local", Key=k)["Body"].read().decode() for k in engine.objects("")
        )
        emf = json.dumps(result.emf)
        secrets = engine.secrets
    logs = log.read_text()
    assert "spoke finished" in logs  # the scan looked at real output
    for secret in secrets:
        for name, text in (("logs", logs), ("history", history), ("ledger", ledger), ("s3", objects), ("emf", emf)):
            assert secret not in text, name


def definition_before_the_fix(engine: LocalEngine) -> str:
    """The deployed definition with the Spokes Map as it was before (issue item 3): no ResultWriter, no tolerated
    failures, no Catch, and every child ending with its own input as output (ResultPath null on the tasks)."""
    definition = json.loads(engine.sfn.describe_state_machine(stateMachineArn=engine.state_machine_arn)["definition"])
    spokes = definition["States"]["Spokes"]
    for key in ("ResultWriter", "ToleratedFailurePercentage", "Catch"):
        del spokes[key]
    # Every task keeps its input as its output, every Pass passes its input on: Spoke, RecordFailure and
    # CountFailure, and the Pass states that end a child (SuccessAlreadyRecorded, FailureNotRecorded, ...).
    for state in spokes["ItemProcessor"]["States"].values():
        if state["Type"] == "Task":
            state.pop("ResultSelector", None)
            state["ResultPath"] = None
        elif state["Type"] == "Pass":
            state.pop("Result", None)
    return json.dumps(definition)


def run_on(engine: LocalEngine, definition: str, name: str, request: dict[str, Any]):
    """Run `request` on another state machine of the same engine (same functions, bucket, ledger)."""
    deployed = engine.state_machine_arn
    engine.state_machine_arn = engine.sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    try:
        return engine.run(request)
    finally:
        engine.state_machine_arn = deployed


def test_a_wave_whose_children_echoed_their_input_passed_256_kib_and_ended_with_no_report(engine):
    # GIVEN 150 targets whose run parameters are ~2.3 KB (every child's input carries them)
    targets = [{"id": f"t{i:03d}"} for i in range(150)]
    params = {"fail_ids": [f"absent-target-{i:04d}" for i in range(150)]}
    # WHEN the wave runs on the definition before the fix
    before = run_on(
        engine, definition_before_the_fix(engine), "BeforeFix", engine.manifest_request("b", targets, params)
    )
    # THEN the Map's gathered results pass 256 KiB: the run fails, uncaught, and Summarize never writes a report
    assert before.status == "FAILED"
    assert before.error == "States.DataLimitExceeded"
    assert before.summary is None
    (gathered,) = engine.limits.gathered
    assert gathered.bytes >= STATE_LIMIT
    # WHEN the same wave runs as deployed
    after = engine.run(engine.manifest_request("a", targets, params))
    # THEN it succeeds with its report; each child added 3 bytes ("{},") to what the Map gathered, plus "[]"
    assert after.status == "SUCCEEDED"
    assert after.summary["succeeded"] == 150
    written = engine.limits.gathered[-1]
    assert written.result_writer
    assert written.children == 150
    assert written.bytes <= 3 * 150 + 1


def test_gathered_bytes_per_noop_child_before_and_after_the_fix(engine):
    # GIVEN 20 plain noop targets, run on the definition before the fix and as deployed
    targets = [{"id": f"target-{i:05d}"} for i in range(20)]
    run_on(engine, definition_before_the_fix(engine), "BeforeFixNoop", engine.manifest_request("nb", targets))
    engine.run(engine.manifest_request("na", targets))
    before, after = engine.limits.gathered
    per_child_before = before.bytes / before.children
    print(f"gathered bytes per noop child: before {per_child_before:.1f}, after {after.bytes / after.children:.1f}")
    # THEN before, each child gathered its whole input (~110 B): 256 KiB was reached at ~2,300 targets a wave
    assert 100 <= per_child_before <= 130
    assert 2_000 < STATE_LIMIT / per_child_before < 2_700
    # AND after, 3 bytes a child: 10,000 children (the most a Map runs at once) gather ~30 KB
    assert after.bytes <= 3 * 20 + 1
    assert STATE_LIMIT > 10_000 * 3 + 1
