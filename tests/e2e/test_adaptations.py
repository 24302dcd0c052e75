"""Each adaptation of the local engine to moto's interpreter (engine.ADAPTATIONS) is exercised here."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from hubspoke.engine import ADAPTATIONS, LocalEngine
from hubspoke.engine.runtime import foreign_compiled, put_on_path
from hubspoke.world import Task
from tests.e2e.conftest import CEILING

pytestmark = pytest.mark.e2e


def run_request(engine: LocalEngine, run_id: str, ids: list[str], params: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "operation": "noop",
        "params": params,
        "source": {"type": "static", "targets": [{"id": i} for i in ids]},
    }


def test_every_adaptation_is_documented_in_the_local_engine_doc():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "local-engine.md").read_text()
    for name in ADAPTATIONS:
        assert f"| `{name}` |" in doc, name


def test_in_process_lambda_runs_the_synthesized_asset(engine, stack):
    # GIVEN the engine's functions WHEN inspected THEN each runs a handler file staged by synth
    functions = engine.runtime.functions
    assert len(functions) == 5
    for fn in functions:
        assert fn.asset_dir.is_relative_to(stack.outdir)
        module_file = fn.asset_dir / (fn.handler_path.rpartition(".")[0].replace(".", "/") + ".py")
        assert module_file.exists()
        # The pinned requirements were bundled into the asset (pip, no Docker), so the handlers import them there.
        assert (fn.asset_dir / "gidgethub" / "abc.py").exists()
        assert (fn.asset_dir / "uritemplate").is_dir()
        # The Kubernetes client too, its compiled part built for Lambda's Python and architecture, not the engine's
        assert (fn.asset_dir / "lightkube" / "__init__.py").exists()
        assert [p.name for p in (fn.asset_dir / "msgspec").glob("_core*.so")] == [
            "_core.cpython-314-x86_64-linux-gnu.so"
        ]


def test_compiled_packages_for_lambdas_python_come_from_the_engines_environment(engine, stack):
    # GIVEN the asset's msgspec, compiled for python3.14 WHEN the engine puts the asset on sys.path
    asset = engine.runtime.functions[0].asset_dir
    assert foreign_compiled(asset) == (["msgspec", "yaml"] if sys.version_info[:2] != (3, 14) else [])
    put_on_path(asset)
    import msgspec

    # THEN msgspec is importable here: a copy this interpreter can load
    assert msgspec.json.decode(b'{"a": 1}') == {"a": 1}


def test_in_process_lambda_errors_keep_lambdas_error_shape(engine):
    response = engine.runtime.invoke(engine.spoke_function, json.dumps({"bad": "event"}))
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "ValidationError"
    assert set(response["Payload"]) == {"errorMessage", "errorType", "requestId", "stackTrace"}


def test_scaled_retry_waits_the_policy_interval_on_the_scaled_clock(engine):
    # GIVEN one target with a transient error on its first attempt (TransientError: 30 s before the retry)
    started = time.monotonic()
    result = engine.run(run_request(engine, "transient", ["a"], {"transient_ids": ["a"], "transient_times": 1}))
    real = time.monotonic() - started
    # THEN it is retried once and succeeds; the 30 s wait took 30 x 0.01 s of real time, not 30 s
    assert result.summary["succeeded"] == 1
    assert engine.ledger("transient")[0]["attempts"] == 2
    assert 0.3 <= real < 10
    assert result.simulated_seconds >= 30


def test_scaled_wait_state(engine):
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 40, "End": True}}}
    arn = engine.sfn.create_state_machine(
        name="wait", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    started = time.monotonic()
    execution = engine.sfn.start_execution(stateMachineArn=arn, name="w1", input="{}")["executionArn"]
    while engine.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 5  # 40 s x 0.01


@pytest.fixture
def fast_engine(stack, tmp_path):
    with LocalEngine(stack, time_scale=0.002, log_path=tmp_path / "lambda.log") as eng:
        yield eng


def test_scaled_timeout_fails_a_stuck_spoke_and_the_rest_finish(fast_engine):
    # GIVEN a spoke that works 400 s against its 300 s task timeout, among quick ones
    params = {"slow_ids": ["slow"], "slow_ms": 400_000}
    result = fast_engine.run(run_request(fast_engine, "stuck", ["slow", "a", "b", "c"], params))
    # THEN it is recorded as failed with States.Timeout and the others finish
    assert (result.summary["failed"], result.summary["succeeded"]) == (1, 3)
    (failed,) = result.summary["failed_targets"]
    # The task timeout (300 s) fires first; were its waiter late, the Lambda's own (310 s) would.
    assert failed["error"] in {"States.Timeout", "Sandbox.Timedout"}
    # AND a late success from the timed-out spoke never overwrites the recorded failure
    fast_engine._drain()
    rows = {r["target_id"]: r["status"] for r in fast_engine.ledger("stuck")}
    assert rows == {"slow": "failed", "a": "succeeded", "b": "succeeded", "c": "succeeded"}


def test_named_executions(engine):
    result = engine.run(run_request(engine, "named-run", ["a"], {}))
    assert result.execution_arn.endswith(":named-run")


def test_iterative_map_worker_handles_a_thousand_items_per_worker(engine):
    # GIVEN more items than Python's recursion limit for one Map worker (MaxConcurrency 1)
    ids = [f"t{i:04d}" for i in range(1100)]
    source = engine.put_input("inputs/seq.json", json.dumps([{"id": i} for i in ids]).encode())
    request = {"run_id": "seq", "operation": "noop", "source": {"type": "s3-manifest", **source}, "max_concurrency": 1}
    # WHEN run THEN every target is processed, one at a time
    result = engine.run(request)
    assert (result.summary["succeeded"], result.peak_concurrency) == (1100, 1)


def test_resolved_definition_is_the_templates_own(engine, stack):
    # GIVEN the state machine the engine created WHEN compared with the template THEN only intrinsics differ
    definition = json.loads(engine.sfn.describe_state_machine(stateMachineArn=engine.state_machine_arn)["definition"])
    assert "Fn::" not in json.dumps(definition)
    spoke = definition["States"]["Spokes"]["ItemProcessor"]["States"]["Spoke"]
    assert spoke["Parameters"]["FunctionName"] == engine.runtime.function(engine.spoke_function).arn
    assert spoke["Retry"][2] == {
        "ErrorEquals": ["TransientError"],
        "IntervalSeconds": 30,
        "MaxAttempts": 3,
        "BackoffRate": 2,
    }  # deployed numbers, not scaled ones
    record = definition["States"]["Spokes"]["ItemProcessor"]["States"]["RecordFailure"]
    assert record["Parameters"]["TableName"] == engine.table_name


def test_cached_jsonpath_parses_each_expression_once(engine):
    from moto.stepfunctions.parser.asl.utils import json_path

    parse = vars(json_path)["parse"]  # as the interpreter looks it up (moto imports it without re-exporting it)
    assert parse("$.run.run_id") is parse("$.run.run_id")
    assert json_path.extract_json("$.run.run_id", {"run": {"run_id": "r"}}) == "r"
    # AND ResultPath's own parser (jsonpath_ng's plain one) too, with its results unchanged
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    assert result_path.parse("$.result") is result_path.parse("$.result")  # type: ignore[attr-defined]
    assert result_path.parse("$.result").update_or_create({"a": 1}, {"ok": True}) == {"a": 1, "result": {"ok": True}}  # type: ignore[attr-defined]


def test_json_copies_each_reader_of_a_state_gets_its_own_deep_copy(engine):
    import datetime

    from moto.stepfunctions.parser.asl.eval import states

    from hubspoke.engine.moto_patches import json_copy

    # GIVEN the engine running: moto's state data are copied with the JSON copier (one pass, no memo)
    assert states.copy.deepcopy is json_copy  # type: ignore[attr-defined]
    # WHEN a state's input (a JSON document) is read twice and the first copy is changed
    params: dict[str, Any] = {"ids": ["a", "b"], "n": 1.5, "ok": True, "none": None}
    data = {"run": {"run_id": "r", "params": params}}
    state = states.States(context={"Execution": {"Input": data}})  # type: ignore[typeddict-item]
    first = state.get_input()
    first["run"]["params"]["ids"].append("c")
    # THEN the second read, and the document itself, are as they were: every reader has a copy of its own
    expected = {"run": {"run_id": "r", "params": {"ids": ["a", "b"], "n": 1.5, "ok": True, "none": None}}}
    assert state.get_input() == expected
    assert data == expected
    # AND anything that is not JSON (a date in a history event) is still deep-copied as before
    stamp = {"when": [datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)]}
    copied = json_copy(stamp)
    assert copied == stamp
    assert copied["when"] is not stamp["when"]


def test_cached_action_names_lists_a_response_class_once_as_moto_does(engine):
    from moto.core import responses
    from moto.core.utils import method_names_from_class
    from moto.dynamodb.responses import DynamoHandler

    # GIVEN the engine running WHEN moto checks an action of DynamoDB twice
    names = responses.method_names_from_class(DynamoHandler)  # type: ignore[attr-defined]
    # THEN the class's methods were listed once, and they are the ones moto lists
    assert responses.method_names_from_class(DynamoHandler) is names  # type: ignore[attr-defined]
    assert set(names) == set(method_names_from_class(DynamoHandler))
    assert {"put_item", "query", "update_item"} <= set(names)
    # AND the engine's requests are still answered (a DynamoDB call through moto's responses)
    assert engine.dynamodb.describe_table(TableName=engine.table_name)["Table"]["TableName"] == engine.table_name


def test_every_spoke_log_line_names_its_run_and_target(stack, tmp_path):
    log = tmp_path / "lambda.log"
    # GIVEN 20 spokes running 10 at a time in one process, one of them failing
    ids = [f"t{i:02d}" for i in range(20)]
    with LocalEngine(stack, time_scale=0.01, log_path=log) as eng:
        eng.run(run_request(eng, "logged", ids, {"fail_ids": ["t07"], "sleep_ms": 1000}) | {"max_concurrency": 10})
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    spoke_lines = [line for line in lines if line.get("message", "").startswith("spoke")]
    # THEN each spoke's line carries its own run and target, never a neighbour's
    assert sorted((line["run_id"], line["target_id"]) for line in spoke_lines) == [("logged", i) for i in ids]
    failed = [line for line in spoke_lines if line["message"] == "spoke attempt failed"]
    assert [(line["target_id"], line["error"]) for line in failed] == [("t07", "TargetError")]


def test_hub_keeps_a_real_time_timeout(stack, tmp_path):
    # GIVEN a hub that takes 0.6 s of real work, twice its 300 s timeout on a 0.001 clock (0.3 s)
    def slow_hub(function: str, event: dict[str, Any]) -> None:
        if function.startswith("FunctionsHub"):
            time.sleep(0.6)

    with LocalEngine(stack, time_scale=0.001, log_path=tmp_path / "l.log", fault_hook=slow_hub) as eng:
        result = eng.run(run_request(eng, "slow-hub", ["a"], {}))
    # THEN it is not timed out: in-process work is real time, only the spokes' simulated work is scaled
    assert result.summary is not None
    assert (result.status, result.summary["succeeded"]) == ("SUCCEEDED", 1)


def test_serialized_moto_runs_table_reads_alone(engine, monkeypatch):
    # GIVEN a moto DynamoDB query that holds its backend for a while (a large ledger page, say)
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    query_started, describe_entered = threading.Event(), threading.Event()
    entered_during_query: list[bool] = []
    original_query, original_describe = DynamoDBBackend.query, DynamoDBBackend.describe_table

    def held_query(self, *args, **kwargs):
        query_started.set()
        # Another call that got into the backend now would be inside while this query runs.
        entered_during_query.append(describe_entered.wait(0.5))
        return original_query(self, *args, **kwargs)

    def marked_describe(self, *args, **kwargs):
        describe_entered.set()
        return original_describe(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "query", held_query)
    monkeypatch.setattr(DynamoDBBackend, "describe_table", marked_describe)
    reader = threading.Thread(target=lambda: engine.ledger("nothing"))
    reader.start()
    assert query_started.wait(60)
    # WHEN another thread calls moto while the query holds the backend
    engine.dynamodb.describe_table(TableName=engine.table_name)
    reader.join()
    # THEN it got in only after the query was done (moto's backends are not thread-safe)
    assert entered_during_query == [False]
    assert describe_entered.is_set()


def test_a_handler_cannot_outlive_its_lambda_timeout(stack, tmp_path):
    # GIVEN a spoke sleeping 3,000 s against its Lambda's 310 s timeout, invoked directly (no task timeout)
    with LocalEngine(stack, time_scale=0.001, log_path=tmp_path / "l.log") as eng:
        eng.run(run_request(eng, "seed", ["slow"], {}))
        started = time.monotonic()
        event = {
            "run": {"run_id": "seed", "operation": "noop", "params": {"slow_ids": ["slow"], "slow_ms": 3_000_000}},
            "target": {"id": "slow"},
            "retry_count": 0,
        }
        response = eng.runtime.invoke(eng.spoke_function, json.dumps(event))
        real = time.monotonic() - started
    # THEN it is stopped at 310 simulated seconds (0.31 s here), as Lambda would stop it
    assert response["Payload"]["errorType"] == "Sandbox.Timedout"
    assert 0.3 <= real < 2.0  # the whole sleep would take 3 s


ENGINE_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "HUBSPOKE_TIME_SCALE",
    "POWERTOOLS_TRACE_DISABLED",
}


def test_function_environment_each_function_sees_only_its_own(stack, tmp_path, monkeypatch):
    import copy
    import dataclasses
    import os

    # GIVEN a template where the hub and the spoke set HUBSPOKE_PROBE differently and the others not at all,
    # and a variable only the process running the engine has
    template = copy.deepcopy(stack.template)
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    by_handler = {r["Properties"]["Handler"].partition(".")[0]: k for k, r in functions.items()}
    for handler, value in (("hub", "hub's"), ("spoke", "spoke's")):
        functions[by_handler[handler]]["Properties"]["Environment"]["Variables"]["HUBSPOKE_PROBE"] = value
    monkeypatch.setenv("HUBSPOKE_HOST_ONLY", "host")
    seen: dict[str, dict[str, str]] = {}
    with LocalEngine(dataclasses.replace(stack, template=template), log_path=tmp_path / "l.log") as eng:
        # WHEN a run goes through every step, and then each function reads and writes its environment
        summary = eng.run(run_request(eng, "env", ["a", "b"], {})).summary
        assert summary is not None
        assert summary["succeeded"] == 2
        for fn in eng.runtime.functions:

            def probe(event: dict[str, Any], context: object, name: str = fn.name) -> None:
                os.environ["HUBSPOKE_WRITTEN_BY"] = name
                seen[name] = dict(os.environ)

            fn.handler = probe
            eng.runtime.invoke(fn.name, "{}")
        in_the_process = dict(os.environ)
    # THEN each saw its own template variables and the engine's, nothing else, and its own write only
    for name, resource in functions.items():
        template_variables = set(resource["Properties"]["Environment"]["Variables"])
        own = {"HUBSPOKE_WRITTEN_BY", "AWS_LAMBDA_FUNCTION_NAME"}
        assert set(seen[name]) == template_variables | ENGINE_VARIABLES | own, name
        assert seen[name]["HUBSPOKE_WRITTEN_BY"] == name
        assert seen[name]["AWS_LAMBDA_FUNCTION_NAME"] == name  # Lambda's reserved variable
    assert seen[by_handler["hub"]]["HUBSPOKE_PROBE"] == "hub's"
    assert seen[by_handler["spoke"]]["HUBSPOKE_PROBE"] == "spoke's"
    for handler in ("gate", "summarize", "indexer"):
        assert "HUBSPOKE_PROBE" not in seen[by_handler[handler]], handler
    # AND the process kept its own environment, without any function's variables or writes
    assert in_the_process["HUBSPOKE_HOST_ONLY"] == "host"
    assert {"HUBSPOKE_PROBE", "HUBSPOKE_WRITTEN_BY", "LEDGER_TABLE"}.isdisjoint(in_the_process)


def test_kept_map_runs_answers_before_the_interpreter_has_started(engine, monkeypatch):
    """moto builds an execution's interpreter environment in its worker thread, after StartExecution returned;
    until then ListMapRuns and DescribeMapRun (which scans every execution) failed with AttributeError."""
    import threading

    from moto.stepfunctions.parser.backend import execution_worker

    release = threading.Event()
    original = execution_worker.ExecutionWorker._get_evaluation_environment

    def held(self):
        release.wait(60)  # the worker is held before its environment exists
        return original(self)

    monkeypatch.setattr(execution_worker.ExecutionWorker, "_get_evaluation_environment", held)
    first = engine.run(run_request(engine, "earlier", ["e1", "e2"], {}))
    arn = engine.sfn.start_execution(
        stateMachineArn=engine.state_machine_arn, name="held", input=json.dumps(run_request(engine, "held", ["h"], {}))
    )["executionArn"]
    try:
        # THEN the held execution has no Map Run yet (as on AWS before its Map state), and the earlier run's
        # Map Run is still described, although an execution without an environment exists beside it
        assert engine.sfn.list_map_runs(executionArn=arn)["mapRuns"] == []
        (listed,) = engine.sfn.list_map_runs(executionArn=first.execution_arn)["mapRuns"]
        assert engine.sfn.describe_map_run(mapRunArn=listed["mapRunArn"])["itemCounts"]["total"] == 2
    finally:
        release.set()


def test_kept_runs_a_new_engine_answers_an_earlier_engines_run_as_aws_does(stack, tmp_path):
    """moto keeps everything in memory; with a state directory a new engine answers the runs an earlier
    engine ran: the execution as ListExecutions/DescribeExecution give it, its ledger rows, its report."""
    home = tmp_path / "home"
    request = run_request(None, "kept", ["k1", "k2", "k3"], {"fail_ids": ["k2"]})  # type: ignore[arg-type]
    with LocalEngine(stack, log_path=tmp_path / "a.log", state_dir=home) as first:
        result = first.run(request)
        described = first.sfn.describe_execution(executionArn=result.execution_arn)
        rows = first.ledger("kept")
    assert result.status == "FAILED"  # one failed target fails the run at the default threshold

    # GIVEN a new engine on the same state directory (a later invocation)
    with LocalEngine(stack, log_path=tmp_path / "b.log", state_dir=home) as second:
        # THEN Step Functions lists and describes the run as the first engine did
        (listed,) = second.sfn.list_executions(stateMachineArn=second.state_machine_arn)["executions"]
        assert (listed["name"], listed["status"]) == ("kept", "FAILED")
        again = second.sfn.describe_execution(executionArn=result.execution_arn)
        for field in ("executionArn", "name", "status", "input", "startDate", "stopDate", "error", "cause"):
            assert again.get(field) == described.get(field), field
        # AND the ledger rows and the report are there
        assert sorted(second.ledger("kept"), key=lambda r: r["target_id"]) == sorted(rows, key=lambda r: r["target_id"])
        assert {r["target_id"]: r["status"] for r in second.ledger("kept")}["k2"] == "failed"
        assert (second.report("kept") or {})["failed"] == 1
        # AND its name stays taken, as on AWS (another input under the same name is refused)
        with pytest.raises(second.sfn.exceptions.ExecutionAlreadyExists):
            second.sfn.start_execution(stateMachineArn=second.state_machine_arn, name="kept", input="{}")
        # AND the restored run is not kept a second time, a new one is
        second.run(run_request(second, "later", ["l1"], {}))
    assert sorted(p.name for p in (home / "runs").iterdir()) == ["kept", "later"]
    # stored as JSON a person can read
    stored = json.loads((home / "runs" / "kept" / "execution.json").read_text())
    assert (stored["name"], stored["status"], stored["error"]) == ("kept", "FAILED", "RunFailed")
    assert json.loads((home / "runs" / "kept" / "objects" / "reports" / "kept.json").read_text())["failed"] == 1


def test_ecs_task_lifecycle_tasks_end_as_the_world_says_on_the_simulated_clock(engine):
    # GIVEN a cluster whose tasks exit 5 after 50 s, one whose tasks do not start, one left at the default; the
    # lifecycle's clock is the test's (the engine's is real time / scale)
    now = [1000.0]
    engine.tasks.now = lambda: now[0]
    ecs = engine.ecs
    for name in ("jobs", "full", "plain"):
        ecs.create_cluster(clusterName=name)
    ecs.register_task_definition(
        family="job",
        containerDefinitions=[
            {"name": "main", "image": "i", "memory": 128},
            {"name": "sidecar", "image": "s", "memory": 64, "essential": False},
        ],
    )
    engine.expect_tasks(None, None, "jobs", Task(exit_code=5, seconds=50))
    engine.expect_tasks(None, None, "full", Task(starts=False, reason="RESOURCE:CPU"))
    # WHEN a task is started (EC2, on a cluster without container instances) and described over time
    (task,) = ecs.run_task(cluster="jobs", taskDefinition="job", startedBy="t-1")["tasks"]
    arn = task["taskArn"]

    def described() -> dict[str, Any]:
        return dict(ecs.describe_tasks(cluster="jobs", tasks=[arn])["tasks"][0])

    # THEN it runs with both containers and no exit code, however often it is described, until 50 s have passed
    for _ in range(6):
        running = described()
        assert (running["lastStatus"], running["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert [(c["name"], c.get("exitCode")) for c in running["containers"]] == [("main", None), ("sidecar", None)]
    assert ecs.list_tasks(cluster="jobs", startedBy="t-1", desiredStatus="STOPPED")["taskArns"] == []
    now[0] += 50
    # ListTasks sees it stopped before anyone described it
    assert ecs.list_tasks(cluster="jobs", startedBy="t-1", desiredStatus="STOPPED")["taskArns"] == [arn]
    stopped = described()
    assert (stopped["lastStatus"], stopped["desiredStatus"], stopped["stopCode"]) == (
        "STOPPED",
        "STOPPED",
        "EssentialContainerExited",
    )
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert [(c["name"], c["exitCode"]) for c in stopped["containers"]] == [("main", 5), ("sidecar", 0)]
    # A cluster whose tasks do not start: failures, no task
    refused = ecs.run_task(cluster="full", taskDefinition="job")
    assert refused["tasks"] == []
    assert [f["reason"] for f in refused["failures"]] == ["RESOURCE:CPU"]
    assert refused["failures"][0]["arn"].endswith(":cluster/full")
    assert ecs.list_tasks(cluster="full", desiredStatus="RUNNING")["taskArns"] == []
    # The default: exit 0 after 30 s
    (plain,) = ecs.run_task(cluster="plain", taskDefinition="job", launchType="FARGATE")["tasks"]
    now[0] += 29
    assert ecs.describe_tasks(cluster="plain", tasks=[plain["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING"
    now[0] += 1
    done = ecs.describe_tasks(cluster="plain", tasks=[plain["taskArn"]])["tasks"][0]
    assert (done["lastStatus"], done["containers"][0]["exitCode"]) == ("STOPPED", 0)
    # Every RunTask call is counted per cluster, started or not
    assert [engine.tasks.run_tasks(None, None, c) for c in ("jobs", "full", "plain", "other")] == [1, 1, 1, 0]


TARGET_ACCOUNT = "210987654321"
UNDEPLOYED_ACCOUNT = "555566667777"
EXTERNAL_ID = "hubspoke-ext-5c1e"


@pytest.fixture(scope="module")
def external_id_stack(synth_cache):
    """The stack deployed with cross_account.external_id set (its target role requires it)."""
    from hubspoke.synth import synthesize_cached

    return synthesize_cached(synth_cache, {"cross_account": {"external_id": EXTERNAL_ID}})


def assume_as(engine: LocalEngine, kind: str, role_arn: str, external_id: str | None) -> str:
    """AssumeRole from inside the `kind` function (hub, spoke, indexer), as its code calls STS: the account the
    credentials act in, or STS's error code."""

    def probe(event: dict[str, Any], context: object) -> str:
        import boto3
        from botocore.exceptions import ClientError

        extra: dict[str, Any] = {} if external_id is None else {"ExternalId": external_id}
        try:
            credentials = boto3.client("sts").assume_role(
                RoleArn=role_arn, RoleSessionName="hubspoke@run@t", DurationSeconds=900, **extra
            )["Credentials"]
        except ClientError as err:
            return str(err.response["Error"]["Code"])
        session = boto3.client(
            "sts",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return str(session.get_caller_identity()["Account"])

    fn = engine.runtime.function(engine.function_named(f"{kind}."))
    real, fn.handler = fn.handler, probe
    try:
        return str(engine.runtime.invoke(fn.name, "{}")["Payload"])
    finally:
        fn.handler = real


def test_assume_role_trust_admits_only_the_functions_the_role_trusts_with_the_external_id(external_id_stack, tmp_path):
    import boto3
    from botocore.exceptions import ClientError

    with LocalEngine(external_id_stack, log_path=tmp_path / "l.log") as eng:
        # GIVEN the target role deployed (from the synthesized HubSpokeTargetRole) trusting the hub and the spoke
        role = eng.deploy_target_role(TARGET_ACCOUNT, trusts=("hub", "spoke"))
        assert role == f"arn:aws:iam::{TARGET_ACCOUNT}:role/hubspoke-target"
        # WHEN a trusted function assumes it with the external id THEN it works in the target account
        assert assume_as(eng, "spoke", role, EXTERNAL_ID) == TARGET_ACCOUNT
        assert assume_as(eng, "hub", role, EXTERNAL_ID) == TARGET_ACCOUNT
        # AND STS refuses a function the role does not trust, a wrong or missing external id, a role not deployed
        assert assume_as(eng, "indexer", role, EXTERNAL_ID) == "AccessDenied"
        assert assume_as(eng, "spoke", role, "hubspoke-ext-wrong") == "AccessDenied"
        assert assume_as(eng, "spoke", role, None) == "AccessDenied"
        undeployed = f"arn:aws:iam::{UNDEPLOYED_ACCOUNT}:role/hubspoke-target"
        assert assume_as(eng, "spoke", undeployed, EXTERNAL_ID) == "AccessDenied"
        # AND a caller that is none of the functions (the account itself, as the engine's own thread) is refused
        sts = boto3.client("sts")
        with pytest.raises(ClientError, match="AccessDenied"):
            sts.assume_role(RoleArn=role, RoleSessionName="outsider", ExternalId=EXTERNAL_ID)


def test_assume_role_trust_without_an_external_id_rests_on_the_trusted_roles(engine):
    # GIVEN a deployment without cross_account.external_id and its target role, trusting all three functions
    role = engine.deploy_target_role(TARGET_ACCOUNT)
    # THEN each of them assumes it; the gate (a function the role never trusts) cannot
    for kind in ("hub", "spoke", "indexer"):
        assert assume_as(engine, kind, role, None) == TARGET_ACCOUNT, kind
    assert assume_as(engine, "gate", role, None) == "AccessDenied"


def test_item_reader_failed_names_the_error_as_aws_does(engine, monkeypatch):
    # GIVEN S3 refusing every read of the wave manifest by the Map's ItemReader
    from tests.e2e.test_faults_round_two import fail_manifest_reads

    refused = fail_manifest_reads(engine, monkeypatch, times=100)
    result = engine.run(run_request(engine, "unreadable", ["a", "b"], {}))
    # THEN the Map failed with States.ItemReaderFailed (moto: States.Runtime), the cause naming S3's error, so the
    # deployed Map's Retry on that name read it 1 + 3 times before its Catch took the error to Summarize
    error = result.summary["notes"]["map_error"]
    assert error["Error"] == "States.ItemReaderFailed"
    assert "SlowDown" in error["Cause"]
    assert len(refused) == 4


def test_reserved_concurrency_throttles_an_invocation_over_the_templates_reservation(ceiling_stack, tmp_path):
    import threading

    from botocore.exceptions import ClientError

    # GIVEN the stack deployed with a ceiling: the spoke's ReservedConcurrentExecutions, and no other function's
    reserved = {
        f["Properties"]["Handler"]: f["Properties"].get("ReservedConcurrentExecutions")
        for f in ceiling_stack.resources("AWS::Lambda::Function").values()
    }
    assert reserved["spoke.handler.handler"] == CEILING
    with LocalEngine(ceiling_stack, time_scale=0.01, log_path=tmp_path / "l.log") as engine:
        spoke = engine.runtime.function(engine.spoke_function)
        assert spoke.reserved_concurrency == CEILING
        assert {f.reserved_concurrency for f in engine.runtime.functions if f is not spoke} == {None}
        # AND that many invocations of the spoke running, held inside the handler
        entered, release = threading.Semaphore(0), threading.Event()

        def held(event: dict[str, Any], context: object) -> dict[str, bool]:
            entered.release()
            release.wait(60)
            return {"ran": True}

        spoke.handler = held
        running = [
            threading.Thread(target=engine.runtime.invoke, args=(engine.spoke_function, "{}")) for _ in range(CEILING)
        ]
        for thread in running:
            thread.start()
        for _ in range(CEILING):
            assert entered.acquire(timeout=60)
        # WHEN one more is invoked THEN Lambda's throttle: 429 TooManyRequestsException, the handler never runs
        with pytest.raises(ClientError) as err:
            engine.runtime.invoke(engine.spoke_function, "{}")
        response: Any = err.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "TooManyRequestsException",
            429,
        )
        assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert (spoke.stats.throttles, spoke.stats.invocations, spoke.stats.active) == (1, CEILING, CEILING)
        # AND once they end, the next one runs
        release.set()
        for thread in running:
            thread.join(60)
        assert engine.runtime.invoke(engine.spoke_function, "{}")["Payload"] == {"ran": True}
        assert (spoke.stats.throttles, spoke.stats.invocations, spoke.stats.peak_concurrency) == (
            1,
            CEILING + 1,
            CEILING,
        )


def test_serialized_start_two_starts_of_one_name_at_once_start_one_execution(engine, monkeypatch):
    import threading

    from moto.stepfunctions.models import StateMachine

    # GIVEN moto's name check held open until the other start reaches it too (or 2 s pass: with starts one at a
    # time, it never does), so without the lock both look before either adds
    look = StateMachine._handle_name_input_idempotency
    arrivals: list[int] = []
    both_looking = threading.Event()

    def slow_look(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = look(self, *args, **kwargs)
        arrivals.append(1)
        if len(arrivals) >= 2:
            both_looking.set()
        both_looking.wait(2)
        return found

    monkeypatch.setattr(StateMachine, "_handle_name_input_idempotency", slow_look)
    request = json.dumps(run_request(engine, "twice", ["a"], {"sleep_ms": 2000}))
    arns: list[str] = []

    def start() -> None:
        arns.append(
            engine.sfn.start_execution(stateMachineArn=engine.state_machine_arn, name="twice", input=request)[
                "executionArn"
            ]
        )

    # WHEN two deliveries start it at the same moment
    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # THEN one execution exists, and both got its ARN (Step Functions' idempotent start)
    executions = engine.sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
    assert len(executions) == 1
    assert len(arns) == 2
    assert len(set(arns)) == 1
    engine.sfn.stop_execution(executionArn=arns[0])


def test_serialized_start_a_stop_right_after_the_start_stops_the_execution(engine, monkeypatch):
    import threading
    import time

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # GIVEN moto's execution thread slow to build its environment, as on a busy machine (CI once stopped an
    # execution in that window: moto failed with "'NoneType' object has no attribute 'set_stop'")
    build = ExecutionWorker._get_evaluation_environment
    never = threading.Event()

    def late(self: Any) -> Any:
        never.wait(0.5)  # the thread not scheduled for half a second
        return build(self)

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_environment", late)
    request = json.dumps(run_request(engine, "stopped-at-once", ["a"], {"sleep_ms": 2000}))
    arn = engine.sfn.start_execution(stateMachineArn=engine.state_machine_arn, name="stopped-at-once", input=request)[
        "executionArn"
    ]
    # WHEN it is stopped at once (Ctrl-C right after the start)
    stopped = engine.sfn.stop_execution(executionArn=arn)
    # THEN StopExecution is answered and the execution ends. (Aborted as a rule; moto ends one stopped in the first
    # milliseconds of its first Task FAILED with States.Runtime instead, a gap listed with the adaptation.)
    assert stopped["ResponseMetadata"]["HTTPStatusCode"] == 200
    deadline = time.monotonic() + 60
    while engine.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        never.wait(0.01)
    assert engine.sfn.describe_execution(executionArn=arn)["status"] in ("ABORTED", "FAILED")
    assert engine.runtime.function(engine.spoke_function).stats.invocations == 0


def test_atomic_writes_two_conditional_puts_of_one_item_at_once_let_one_pass(engine, monkeypatch):
    import threading

    from moto.dynamodb.models import table

    # GIVEN moto's condition check held until the other write reaches it too (or 2 s pass: with writes one at a
    # time, it never does), so without the lock both read "no item" before either writes
    check = getattr(table, "get_filter_expression")  # noqa: B009 - not re-exported for mypy
    arrivals: list[int] = []
    both_checking = threading.Event()

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        arrivals.append(1)
        if len(arrivals) >= 2:
            both_checking.set()
        both_checking.wait(2)
        return check(*args, **kwargs)

    monkeypatch.setattr(table, "get_filter_expression", slow_check)
    outcomes: list[str] = []

    def claim(owner: str) -> None:
        try:
            engine.dynamodb.put_item(
                TableName=engine.table_name,
                Item={"run_id": {"S": "claimed"}, "target_id": {"S": "#claim"}, "owner": {"S": owner}},
                ConditionExpression="attribute_not_exists(run_id)",
            )
            outcomes.append("claimed")
        except engine.dynamodb.exceptions.ConditionalCheckFailedException:
            outcomes.append("refused")

    # WHEN two writers claim the same item at the same moment
    threads = [threading.Thread(target=claim, args=(owner,)) for owner in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # THEN exactly one claim passes, as DynamoDB's single-item writes are atomic
    assert sorted(outcomes) == ["claimed", "refused"]


def test_direct_dynamodb_answers_in_process_with_motos_checks_errors_and_accounts(engine):
    import boto3
    from moto.iam.models import iam_backends

    client, table = engine.dynamodb, engine.table_name
    sent: list[str] = []
    seen_before_call: list[str] = []
    # GIVEN hooks on the client: one on the HTTP send, one where a test or a user injects a fault
    client.meta.events.register("before-send.dynamodb", lambda model=None, **kw: sent.append("sent"))
    client.meta.events.register("before-call.dynamodb", lambda model, **kw: seen_before_call.append(model.name))
    item = {
        "run_id": {"S": "direct"},
        "target_id": {"S": "t1"},
        "status": {"S": "pending"},
        "n": {"N": "3"},
        "blob": {"B": b"\x00\xff"},
    }
    # WHEN the engine's client writes, reads and queries
    client.put_item(TableName=table, Item=item)
    assert client.get_item(TableName=table, Key={"run_id": {"S": "direct"}, "target_id": {"S": "t1"}})["Item"] == item
    page = client.query(
        TableName=table,
        KeyConditionExpression="run_id = :r",
        ExpressionAttributeValues={":r": {"S": "direct"}},
    )
    assert (page["Count"], page["Items"]) == (1, [item])
    # THEN no HTTP request was built or sent, and before-call handlers still ran for each call
    assert sent == []
    assert seen_before_call == ["PutItem", "GetItem", "Query"]
    # AND a failed condition is DynamoDB's error with its modeled field (the item, asked for)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failed:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(run_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.response["Error"] == {
        "Code": "ConditionalCheckFailedException",
        "Message": "The conditional request failed",
    }
    assert failed.value.response["Item"] == item
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # AND moto's validations still apply (an empty key value)
    with pytest.raises(client.exceptions.ClientError) as invalid:
        client.put_item(TableName=table, Item={"run_id": {"S": ""}, "target_id": {"S": "t"}})
    assert invalid.value.response["Error"]["Code"] == "ValidationException"
    # AND botocore's own parameter checks too (nothing reaches moto)
    from botocore.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        client.put_item(TableName=table)
    # AND a fault injected in before-call wins, as it would against AWS
    injected = {"Error": {"Code": "InternalServerError", "Message": "injected"}}
    answer = type("Answer", (), {"status_code": 500, "headers": {}})()
    client.meta.events.register("before-call.dynamodb.GetItem", lambda **kw: (answer, injected))
    with pytest.raises(client.exceptions.InternalServerError):
        client.get_item(TableName=table, Key={"run_id": {"S": "direct"}, "target_id": {"S": "t1"}})
    # AND the caller's credentials decide the account: a key of account 222222222222 writes there, not here
    backend = iam_backends["222222222222"]["aws"]
    backend.create_user("us-east-1", "other")
    key = backend.create_access_key("other")
    other = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
    )
    assert table not in other.list_tables()["TableNames"]
    assert table in client.list_tables()["TableNames"]
    assert sent == []


def test_lean_dynamodb_results_write_what_motos_serializer_writes(engine, monkeypatch):
    from moto.core import serialize
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    from hubspoke.engine.direct_dynamodb import LEAN_ACTIONS

    item = {
        "s": {"S": "x"},
        "n": {"N": "1.5"},
        "b": {"B": b"\x00\x01"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x02", b"\xff"]},
        "m": {"M": {"inner": {"L": [{"S": "y"}, {"NULL": True}, {"BOOL": False}]}}},
        "empty": {"M": {}},
    }
    key = {"run_id": {"S": "r"}, "target_id": {"S": "t"}}
    capacity = {"TableName": "t", "CapacityUnits": 1.0}
    results = {
        "GetItem": {"Item": item},
        "PutItem": {"Attributes": item, "ConsumedCapacity": capacity},
        "UpdateItem": {"Attributes": item},
        "DeleteItem": {},
        "Query": {"Count": 2, "ScannedCount": 3, "Items": [item, item], "LastEvaluatedKey": key},
        "Scan": {"Count": 0, "ScannedCount": 0, "Items": []},
        "BatchGetItem": {"Responses": {"t": [item]}, "UnprocessedKeys": {}},
        "BatchWriteItem": {"UnprocessedItems": {}, "ConsumedCapacity": [capacity]},
    }
    assert set(results) == set(LEAN_ACTIONS)
    walks: list[str] = []
    walk = serialize.ResponseSerializer.serialize

    def counted(self: Any, result: Any) -> Any:
        walks.append("walk")
        return walk(self, result)

    monkeypatch.setattr(serialize.ResponseSerializer, "serialize", counted)
    for action, result in results.items():
        handler = DynamoHandler()
        handler.response_headers = {"server": "amazon.com"}
        handler.headers = {"Content-Type": "application/x-amz-json-1.0"}
        handler._get_action = lambda action=action: action  # type: ignore[method-assign,misc]
        # WHEN the engine writes the result, and moto's own serializer writes it
        status, headers, body = handler.serialized(DynamoResult(result))
        assert walks == [], action  # moto's shape-walking serializer was not used
        m_status, m_headers, m_body = BaseResponse.serialized(handler, DynamoResult(result))
        # THEN the documents, status and content type are the same
        assert (status, json.loads(body)) == (m_status, json.loads(m_body)), action
        assert headers["Content-Type"] == m_headers["Content-Type"] == "application/x-amz-json-1.0"
        walks.clear()


def test_parsed_conditions_parse_an_expression_once_and_decide_each_write_on_its_item(engine, monkeypatch):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    client, table = engine.dynamodb, engine.table_name
    lexed: list[str] = []
    lex = ConditionExpressionParser._lex_condition_expression

    def counted_lex(self: Any) -> Any:
        lexed.append(self.condition_expression)
        return lex(self)

    monkeypatch.setattr(ConditionExpressionParser, "_lex_condition_expression", counted_lex)

    def row(target: str, status: str) -> dict[str, Any]:
        return {"run_id": {"S": "conditions"}, "target_id": {"S": target}, "status": {"S": status}}

    client.put_item(TableName=table, Item=row("done", "failed"))
    client.put_item(TableName=table, Item=row("open", "pending"))
    lexed.clear()

    def finish(target: str, refused: str = "failed") -> str:
        try:
            client.put_item(
                TableName=table,
                Item=row(target, "succeeded"),
                ConditionExpression="attribute_exists(run_id) AND #s <> :failed",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":failed": {"S": refused}},
            )
            return "written"
        except client.exceptions.ConditionalCheckFailedException:
            return "refused"

    # WHEN the spoke's conditional write runs on three items with one expression, names and values
    outcomes = [finish("open"), finish("done"), finish("missing")]
    # THEN each write was decided on its own item, and the expression was parsed once
    assert outcomes == ["written", "refused", "refused"]
    assert lexed == ["attribute_exists(run_id) AND #s <> :failed"]
    # AND other values are another expression: parsed anew, decided by them
    assert finish("done", refused="pending") == "written"
    assert len(lexed) == 2
    # AND moto's checks of a request still run on every request: an unused name, an invalid expression
    for _ in range(2):
        with pytest.raises(client.exceptions.ClientError, match="unused in expressions"):
            client.put_item(
                TableName=table,
                Item=row("open", "x"),
                ConditionExpression="attribute_exists(run_id)",
                ExpressionAttributeNames={"#unused": "status"},
            )
        # (moto lets a malformed expression's ValueError through, on its HTTP path too; refused each time)
        with pytest.raises(ValueError, match="Bad function expression"):
            client.put_item(TableName=table, Item=row("open", "x"), ConditionExpression="attribute_exists(")


def test_tuned_gc_freezes_the_started_engine_and_restores_the_process_settings(stack, tmp_path):
    import gc

    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    # WHEN an engine runs
    with LocalEngine(stack, log_path=tmp_path / "lambda.log") as engine:
        # THEN what start-up made is frozen, and young collections come every 10,000 allocations
        assert gc.get_threshold() == (10_000, before[1], before[2])
        assert gc.get_freeze_count() > frozen_before
        # AND what a run allocates is still collected: a cycle made now is freed by a collection
        import weakref

        class Node:
            pass

        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        ref = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert ref() is None
        result = engine.run(run_request(engine, "gc", ["a", "b"], {}))
        assert result.summary is not None
        assert result.summary["succeeded"] == 2
    # AND when it ends, the process's settings are back
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
