"""Two deliveries of one push, as EventBridge makes them: two executions with names of their own and the same
run id, started together. The second must not reset the first's ledger rows under it; both end with an exact
ledger, one deployment per service, nothing lost.

The interleavings are forced with the engine's invocation hook (it runs in the invoking thread before each
handler), never with sleeps: an Event set by one execution releases the other.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubspoke.engine import LocalEngine, RunResult
from hubspoke.trigger import rules_targeting, transform
from hubspoke.world import World, load_world
from tests.conftest import load_event

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).parents[2] / "examples"
RUNNING_THE_TAG = 12  # services of examples/world.json running web:1.4
DEADLOCK_GUARD_SECONDS = 120  # only ever reached if an execution hangs; the outcome never depends on it


class Choreography:
    """The invocation hook: a list of (condition, action) steps, each evaluated before an invocation."""

    def __init__(self) -> None:
        self.steps: list[Callable[[str, dict[str, Any]], None]] = []
        self.names: dict[str, str] = {}

    def __call__(self, function: str, event: dict[str, Any]) -> None:
        for step in self.steps:
            step(self.names.get(function, function), event)


@pytest.fixture
def world_engine(stack, tmp_path):
    choreography = Choreography()
    engine = LocalEngine(stack, time_scale=0.01, log_path=tmp_path / "l.log", fault_hook=choreography)
    with engine:
        world = World.model_validate(json.loads((EXAMPLES / "world.json").read_text()))
        load_world(engine.ecs, world)
        engine.runtime.invoke(engine.function_named("indexer."), "{}")
        for handler in ("hub.", "spoke.", "summarize."):
            choreography.names[engine.function_named(handler)] = handler.rstrip(".")
        (machine,) = stack.resources("AWS::StepFunctions::StateMachine")
        (rule,) = rules_targeting(stack, machine)
        request = transform(rule["Targets"][0], load_event("ecr_push_web.json"))
        yield engine, choreography, request


def run_together(engine: LocalEngine, request: dict[str, Any], after: dict[str, threading.Event]) -> dict[str, Any]:
    """Start both deliveries at once, each in a thread of its own; `after[name]` is set when it has ended."""
    results: dict[str, RunResult] = {}

    def deliver(name: str) -> None:
        try:
            results[name] = engine.run(request, execution_name=name)
        finally:
            after[name].set()

    threads = [threading.Thread(target=deliver, args=(name,)) for name in after]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLOCK_GUARD_SECONDS)
        assert not thread.is_alive(), "an execution did not end"
    return results


def output(engine: LocalEngine, result: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(
        engine.sfn.describe_execution(executionArn=result.execution_arn).get("output") or "{}"
    )
    return out


def assert_exact(engine: LocalEngine, run_id: str) -> None:
    """One row per service, every one succeeded; each service restarted once, with the deployment recorded."""
    rows = engine.ledger(run_id)
    assert len(rows) == RUNNING_THE_TAG
    assert {r["status"] for r in rows} == {"succeeded"}
    restarts = engine.runtime.function(engine.spoke_function).stats.invocations
    assert restarts == RUNNING_THE_TAG
    for row in rows:
        cluster, service = row["target_id"].split("/")
        (described,) = engine.ecs.describe_services(cluster=cluster, services=[service])["services"]
        assert json.loads(row["detail"])["deployment_id"] == described["deployments"][0]["id"]


def test_a_second_delivery_while_the_first_summarizes_does_not_reset_its_rows(world_engine):
    """The race at its worst: the second hub runs after every spoke of the first has finished and before the
    first's Summarize reads the ledger. Before the claim it reset all 12 rows to pending (12 lost)."""
    engine, choreography, request = world_engine
    first_at_summarize = threading.Event()
    ended = {"delivery-1": threading.Event(), "delivery-2": threading.Event()}
    summarized: list[Any] = []

    def second_hub_waits_for_the_first_summarize(function: str, event: dict[str, Any]) -> None:
        if function == "hub" and event.get("execution_name") == "delivery-2":
            first_at_summarize.wait(DEADLOCK_GUARD_SECONDS)

    def first_summarize_waits_until_the_second_hub_is_done(function: str, event: dict[str, Any]) -> None:
        if function == "summarize" and not summarized:
            summarized.append(event)
            first_at_summarize.set()
            # The second execution is past its hub when it has ended, or when its spokes start.
            second_past_hub.wait(DEADLOCK_GUARD_SECONDS)

    def second_spokes_mean_the_second_hub_is_done(function: str, event: dict[str, Any]) -> None:
        if function == "spoke" and first_at_summarize.is_set():
            second_past_hub.set()

    second_past_hub = ended["delivery-2"]
    choreography.steps += [
        second_hub_waits_for_the_first_summarize,
        first_summarize_waits_until_the_second_hub_is_done,
        second_spokes_mean_the_second_hub_is_done,
    ]
    results = run_together(engine, request, ended)
    first, second = results["delivery-1"], results["delivery-2"]
    # THEN the first run reports exactly what it did: 12 restarted, none lost
    assert first.status == "SUCCEEDED", first.cause
    assert first.summary is not None
    assert (first.summary["total"], first.summary["succeeded"], first.summary["lost"]) == (RUNNING_THE_TAG, 12, 0)
    # AND the second did nothing and says which execution runs the push
    assert second.status == "SUCCEEDED"
    assert output(engine, second)["duplicate_of"] == first.execution_arn
    assert_exact(engine, first.run_id)


def test_two_hubs_at_the_same_moment_claim_the_run_once(world_engine):
    """Both hubs released at once (a barrier): the conditional claim lets exactly one of them seed."""
    engine, choreography, request = world_engine
    both_hubs = threading.Barrier(2, timeout=DEADLOCK_GUARD_SECONDS)

    def hubs_start_together(function: str, event: dict[str, Any]) -> None:
        if function == "hub":
            both_hubs.wait()

    choreography.steps.append(hubs_start_together)
    results = run_together(engine, request, {"delivery-1": threading.Event(), "delivery-2": threading.Event()})
    duplicates = [name for name, r in results.items() if "duplicate_of" in output(engine, r)]
    assert len(duplicates) == 1
    (runner,) = set(results) - set(duplicates)
    assert output(engine, results[duplicates[0]])["duplicate_of"] == results[runner].execution_arn
    assert {r.status for r in results.values()} == {"SUCCEEDED"}
    summary = results[runner].summary
    assert summary is not None
    assert (summary["total"], summary["succeeded"], summary["lost"]) == (RUNNING_THE_TAG, 12, 0)
    assert_exact(engine, results[runner].run_id)


def test_a_redelivery_after_the_run_ended_reruns_the_run_id(world_engine):
    """The claim's owner has ended: the next execution takes it over and reruns (every target unchanged)."""
    engine, _, request = world_engine
    first = engine.run(request, execution_name="delivery-1")
    again = engine.run(request, execution_name="delivery-2")
    assert "duplicate_of" not in output(engine, again)
    assert again.summary is not None
    assert (again.summary["unchanged"], again.summary["lost"]) == (RUNNING_THE_TAG, 0)
    assert first.run_id == again.run_id
