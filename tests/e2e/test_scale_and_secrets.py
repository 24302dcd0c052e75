"""Scale (a smaller version of benchmarks/bench_scale.py) and the no-secret-anywhere scan."""

from __future__ import annotations

import json

import pytest

from hubspoke.engine import LocalEngine

pytestmark = pytest.mark.e2e
STATE_LIMIT = 262_144  # bytes, Step Functions' state input/output limit


def test_two_thousand_targets_exact_summary_and_small_payloads(engine):
    # GIVEN 2,000 targets, 1 % failing, a long parameter list travelling with every spoke
    targets = [f"target-{i:05d}" for i in range(2000)]
    failing = targets[::100]
    source = engine.put_input("inputs/big.json", json.dumps([{"id": t, "team": "x" * 50} for t in targets]).encode())
    request = {
        "run_id": "big",
        "operation": "noop",
        # 2 s of simulated work (20 ms real) each, so a hundred spokes really overlap: with none, the peak
        # depended on thread scheduling and once read 90 on a busy machine.
        "params": {"fail_ids": failing, "sleep_ms": 2000},
        "source": {"type": "s3-manifest", **source},
        "max_concurrency": 100,
    }
    result = engine.run(request)
    summary = result.summary
    # THEN nothing is lost and the counts are exact
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (2000, 1980, 20, 0)
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
