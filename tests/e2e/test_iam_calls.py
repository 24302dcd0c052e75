"""Every AWS call the Lambdas make is allowed by that function's IAM policy, as synthesized.

moto allows everything, so an IAM gap (ecs:ListServices granted on cluster ARNs: AccessDenied on AWS) passes
every other local test. Here the real handlers run on the local engine, each AWS request they make is
recorded as IAM authorizes it (action, resource ARN, condition keys), and checked against the statements of
that function's role in the template (tests/iam.py). The calls each function may make are listed below from
the requirements; a call outside the list fails too, so a new call comes with its grant and its line here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

from hubspoke.engine import LocalEngine
from hubspoke.synth import project_context, synthesize_cached
from hubspoke.trigger import rules_targeting, transform
from hubspoke.world import World, load_world
from tests.conftest import load_event
from tests.iam import Call, allows, ecs_arn, execution_arn, function_statements, secret_arn, table_arn

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).parents[2] / "examples"
CLUSTERS = ["prod-us", "prod-eu"]
LEDGER = table_arn("hubspoke-ledger")
BUCKET = "arn:aws:s3:::hubspoke-local"
SERVICE = ecs_arn("service", "prod-us/svc-01")
IN_PROD_US = {"ecs:cluster": ecs_arn("cluster", "prod-us")}
TOKEN = secret_arn("hubspoke/github-token")
IN_JOBS = {"ecs:cluster": ecs_arn("cluster", "jobs")}  # ecs-run-task's cluster


def tables(template: dict[str, Any]) -> dict[str, str]:
    """The image index and idempotency tables' ARNs, named as the engine names them."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            for prefix in ("StorageImageIndex", "StorageIdempotency"):
                if logical_id.startswith(prefix):
                    found[prefix] = table_arn(f"hubspoke-{logical_id.lower()}")
    return found


def expected_calls(template: dict[str, Any]) -> dict[str, list[Call]]:
    """What each function must be able to do, from the requirements (one plausible request each)."""
    index, idempotency = tables(template)["StorageImageIndex"], tables(template)["StorageIdempotency"]
    scan = [
        Call("ecs:ListClusters", ("*",)),  # only when image_push.clusters is empty
        Call("ecs:ListServices", ("*",), IN_PROD_US),
        Call("ecs:DescribeServices", (SERVICE,), IN_PROD_US),
        Call("ecs:DescribeTaskDefinition", ("*",)),
    ]
    return {
        "indexer": [*scan, Call("dynamodb:BatchWriteItem", (index,))],
        "hub": [
            *scan,  # the live scan when the index is empty or stale
            Call("dynamodb:GetItem", (index,)),
            Call("dynamodb:Query", (index,)),
            Call("s3:GetObject", (f"{BUCKET}/inputs/targets.json",)),  # s3-manifest
            Call("s3:PutObject", (f"{BUCKET}/runs/r-1/manifest.json",)),
            Call("s3:PutObject", (f"{BUCKET}/plans/r-1.json",)),  # a dry run's plan
            Call("dynamodb:BatchWriteItem", (LEDGER,)),  # seeding
            Call("dynamodb:GetItem", (idempotency,)),  # the run-id claim
            Call("dynamodb:PutItem", (idempotency,)),
            Call("states:DescribeExecution", (execution_arn("push-1"),)),  # is the claim's owner running?
            Call("secretsmanager:GetSecretValue", (TOKEN,)),  # github-org
        ],
        "spoke": [
            Call("dynamodb:PutItem", (LEDGER,)),
            Call("dynamodb:UpdateItem", (LEDGER,)),
            Call("dynamodb:GetItem", (LEDGER,)),  # the circuit breaker's one read of the run's counters
            Call("ecs:UpdateService", (SERVICE,), IN_PROD_US),
            Call("ecs:DescribeServices", (SERVICE,), IN_PROD_US),  # wait_for_steady
            *(Call(f"dynamodb:{a}", (idempotency,)) for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")),
            Call("secretsmanager:GetSecretValue", (TOKEN,)),  # github-file-sync
            # ecs-run-task: the earlier attempt's task, the run (tagged on create), the wait, the essential
            # containers; ECS checks PassRole for the task definition's roles.
            Call("ecs:ListTasks", ("*",), IN_JOBS),
            Call("ecs:RunTask", (ecs_arn("task-definition", "nightly:1"),), IN_JOBS),
            Call("ecs:TagResource", (ecs_arn("task", "jobs/new"),), {"ecs:CreateAction": "RunTask"}),
            Call("ecs:DescribeTasks", (ecs_arn("task", "jobs/0123"),), IN_JOBS),
            Call("ecs:DescribeTaskDefinition", ("*",)),
            Call(
                "iam:PassRole",
                ("arn:aws:iam::123456789012:role/nightly-task",),
                {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
            ),
        ],
        "summarize": [
            Call("dynamodb:Query", (LEDGER,)),
            Call("dynamodb:BatchWriteItem", (LEDGER,)),  # after a failed canary: the rest recorded skipped
            Call("s3:PutObject", (f"{BUCKET}/reports/r-1.json",)),
        ],
        "gate": [Call("secretsmanager:GetSecretValue", (TOKEN,))],
    }


class Recorder:
    """Records each AWS request a handler makes, by function: the engine's invocation hook names the
    function in the invoking thread, and every botocore API call passes through BaseClient._make_api_call."""

    def __init__(self) -> None:
        self.current = threading.local()
        self.calls: dict[str, set[Call]] = {}
        self.engine: LocalEngine | None = None
        self._lock = threading.Lock()

    def hook(self, function: str, event: dict[str, Any]) -> None:
        assert self.engine is not None
        handler = self.engine.runtime.function(function).handler_path
        self.current.function = handler.split(".", 1)[0]

    def record(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        if self.engine is None or not self.engine.runtime.in_handler():
            return  # the test's own calls (setup, polling, reading the ledger)
        function = getattr(self.current, "function", "?")
        calls = as_iam(client.meta.service_model.endpoint_prefix, operation, params)
        with self._lock:
            self.calls.setdefault(function, set()).update(calls)


def _cluster_arn(cluster: str) -> str:
    return cluster if cluster.startswith("arn:") else ecs_arn("cluster", cluster)


def as_iam(service: str, operation: str, params: dict[str, Any]) -> list[Call]:
    """A request as IAM authorizes it (Service Authorization Reference: resource types and condition keys)."""
    action = f"{service}:{operation}"
    if service == "ecs":
        if operation in ("ListClusters", "DescribeTaskDefinition"):
            return [Call(action, ("*",))]
        cluster = _cluster_arn(params.get("cluster", "default"))
        context = {"ecs:cluster": cluster}
        name = cluster.rsplit("/", 1)[-1]
        if operation in ("ListServices", "ListTasks"):
            return [Call(action, ("*",), context)]
        if operation == "RunTask":
            # Authorized on the task definition (its latest revision when none is named); tags on create too.
            definition = (
                params["taskDefinition"] if ":" in params["taskDefinition"] else f"{params['taskDefinition']}:1"
            )
            calls = [Call(action, (ecs_arn("task-definition", definition),), context)]
            if params.get("tags"):
                calls.append(
                    Call("ecs:TagResource", (ecs_arn("task", f"{name}/new"),), {"ecs:CreateAction": "RunTask"})
                )
            return calls
        if operation == "DescribeTasks":
            tasks = tuple(ecs_arn("task", f"{name}/{t.rsplit('/', 1)[-1]}") for t in params["tasks"])
            return [Call(action, tasks, context)]
        services = params.get("services") or [params["service"]]
        arns = tuple(ecs_arn("service", f"{name}/{s.rsplit('/', 1)[-1]}") for s in services)
        return [Call(action, arns, context)]
    if service == "dynamodb":
        names = list(params["RequestItems"]) if "RequestItems" in params else [params["TableName"]]
        return [Call(action, tuple(table_arn(n) for n in names))]
    if service == "s3" and operation in ("GetObject", "HeadObject", "PutObject"):
        # HeadObject is authorized as s3:GetObject (no action of its own).
        action = "s3:GetObject" if operation == "HeadObject" else action
        return [Call(action, (f"arn:aws:s3:::{params['Bucket']}/{params['Key']}",))]
    if service == "states" and operation == "DescribeExecution":
        return [Call(action, (params["executionArn"],))]
    if service == "secretsmanager" and operation == "GetSecretValue":
        return [Call(action, (secret_arn(params["SecretId"]),))]
    # Not modelled yet: recorded as is, so the check fails naming it (raising here would fail the handler).
    return [Call(f"unmodelled:{action}", ("say in as_iam how IAM authorizes it",))]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    original = vars(BaseClient)["_make_api_call"]  # every request goes through it; private, so not in the stubs

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        recorder.record(client, operation, params)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return recorder


@pytest.fixture(scope="module")
def clustered_stack(synth_cache):
    image_push = {**project_context()["hubspoke"]["image_push"], "clusters": CLUSTERS}
    return synthesize_cached(synth_cache, {"image_push": image_push})


def image_push_runs(stack: Any, recorder: Recorder, tmp_path: Path) -> Iterator[LocalEngine]:
    """The image-push scenario end to end, every path the functions have: a live scan (no index yet), the
    indexer, a run from the index waiting for steady, a redelivery (the claim's owner checked), an
    s3-manifest run."""
    engine = LocalEngine(stack, time_scale=0.01, log_path=tmp_path / "l.log", fault_hook=recorder.hook)
    recorder.engine = engine
    with engine:
        load_world(engine.ecs, World.model_validate(json.loads((EXAMPLES / "world.json").read_text())))
        (machine,) = stack.resources("AWS::StepFunctions::StateMachine")
        (rule,) = rules_targeting(stack, machine)
        request = transform(rule["Targets"][0], load_event("ecr_push_web.json"))
        live = engine.run(request, execution_name="push-1")  # the index is empty: the hub scans live
        assert live.status == "SUCCEEDED"
        assert live.summary is not None
        assert live.summary["notes"]["discovery"].startswith("scanned ECS live")
        engine.runtime.invoke(engine.function_named("indexer."), "{}")
        waiting = {**request, "run_id": "push-2", "params": {"wait_for_steady": True, "steady_timeout_seconds": 60}}
        assert engine.run(waiting, execution_name="push-2").status == "SUCCEEDED"
        again = engine.run(waiting, execution_name="push-2-again")  # a redelivery: the claim's owner is looked up
        plan = engine.run(engine.manifest_request("r-1", [{"id": "a"}], dry_run=True), execution_name="r-1-plan")
        assert plan.status == "SUCCEEDED"
        manifest = engine.run(engine.manifest_request("r-1", [{"id": "a"}, {"id": "b"}]), execution_name="r-1")
        assert (again.status, manifest.status) == ("SUCCEEDED", "SUCCEEDED")
        # A failing canary with a circuit breaker: the spoke reads the counters, Summarize skips the rest.
        stopped = engine.manifest_request(
            "r-2",
            [{"id": "a"}, {"id": "b"}],
            {"fail_ids": ["a"]},
            canary={"targets": 1},
            circuit_breaker={"failures": 1},
        )
        summary = engine.run(stopped).summary
        assert summary is not None
        assert summary["stopped_by"] == "canary"
        engine.ecs.create_cluster(clusterName="jobs")
        engine.ecs.register_task_definition(
            family="nightly", containerDefinitions=[{"name": "report", "image": "registry/report:3", "memory": 128}]
        )
        run_task = {
            "run_id": "nightly-1",
            "operation": "ecs-run-task",
            "params": {"task_definition": "nightly", "poll_seconds": 10, "wait_timeout_seconds": 60},
            "source": {"type": "static", "targets": [{"id": "jobs", "cluster": "jobs"}]},
        }
        assert engine.run(run_task).status == "SUCCEEDED"
        yield engine


def check(template: dict[str, Any], recorded: dict[str, set[Call]]) -> None:
    expected = expected_calls(template)
    for function, calls in sorted(recorded.items()):
        statements = function_statements(template, f"{function}.")
        allowed_actions = {c.action for c in expected[function]}
        for call in sorted(calls, key=repr):
            assert call.action in allowed_actions, f"{function} calls {call.action}, not in its expected list"
            assert allows(statements, call), f"{function}'s policy does not allow {call}"


@pytest.mark.parametrize("configured", [False, True], ids=["all-clusters", "configured-clusters"])
def test_every_recorded_call_is_allowed_by_the_functions_policy(configured, stack, clustered_stack, recorder, tmp_path):
    chosen = clustered_stack if configured else stack
    for _ in image_push_runs(chosen, recorder, tmp_path):
        pass
    recorded = recorder.calls
    # The run went through every function of the scenario, and the scan paths this stack has.
    assert {"hub", "spoke", "summarize", "indexer"} <= set(recorded)
    scanned = {c.action for c in recorded["indexer"]}
    assert ("ecs:ListClusters" in scanned) is (not configured)
    assert "ecs:ListServices" in {c.action for c in recorded["hub"]}
    assert "states:DescribeExecution" in {c.action for c in recorded["hub"]}
    run_task = {"ecs:ListTasks", "ecs:RunTask", "ecs:TagResource", "ecs:DescribeTasks", "ecs:DescribeTaskDefinition"}
    assert run_task <= {c.action for c in recorded["spoke"]}
    check(chosen.template, recorded)


@pytest.mark.parametrize("configured", [False, True], ids=["all-clusters", "configured-clusters"])
def test_every_expected_call_is_allowed(configured, stack, clustered_stack):
    """The calls no local run makes here (GitHub's secret, the gate) are checked from the list alone."""
    template = (clustered_stack if configured else stack).template
    for function, calls in expected_calls(template).items():
        statements = function_statements(template, f"{function}.")
        for call in calls:
            if call.action == "ecs:ListClusters" and configured:
                continue  # with clusters configured nothing lists clusters
            assert allows(statements, call), f"{function}: {call}"


def test_a_grant_on_cluster_arns_does_not_allow_list_services():
    """The evaluator models what AWS does: ListServices is authorized on '*', never on a cluster ARN."""
    on_clusters = [{"Effect": "Allow", "Action": "ecs:ListServices", "Resource": ecs_arn("cluster", "*")}]
    assert not allows(on_clusters, Call("ecs:ListServices", ("*",), IN_PROD_US))
    on_star = [
        {
            "Effect": "Allow",
            "Action": "ecs:ListServices",
            "Resource": "*",
            "Condition": {"ArnEquals": {"ecs:cluster": [ecs_arn("cluster", "prod-us")]}},
        }
    ]
    assert allows(on_star, Call("ecs:ListServices", ("*",), IN_PROD_US))
    assert not allows(on_star, Call("ecs:ListServices", ("*",), {"ecs:cluster": ecs_arn("cluster", "staging")}))
