"""The image-push scenario end to end: an ECR event through the synthesized rule into the workflow,
against a fleet of 3 clusters and 40 services, 12 of them running the pushed image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.trigger import matches, rules_targeting, transform
from hubspoke.world import World, load_world
from tests.conftest import load_event

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).parents[2] / "examples"
GONE = "prod-us/svc-21"


def deployment_ids(engine: LocalEngine, targets: list[str]) -> dict[str, str]:
    ids = {}
    for target in targets:
        cluster, service = target.split("/")
        described = engine.ecs.describe_services(cluster=cluster, services=[service])["services"]
        ids[target] = described[0]["deployments"][0]["id"] if described and described[0]["deployments"] else ""
    return ids


@pytest.fixture
def scenario(watched_stack, tmp_path):
    stack = watched_stack
    deleted: list[str] = []

    def delete_between_discovery_and_restart(function: str, event: dict[str, Any]) -> None:
        # The service disappears after the hub found it and before its spoke runs.
        if event.get("target", {}).get("id") == GONE and not deleted:
            deleted.append(GONE)
            engine.ecs.delete_service(cluster="prod-us", service="svc-21", force=True)

    engine = LocalEngine(
        stack, time_scale=0.01, log_path=tmp_path / "l.log", fault_hook=delete_between_discovery_and_restart
    )
    with engine:
        world = World.model_validate(json.loads((EXAMPLES / "world.json").read_text()))
        assert load_world(engine.ecs, world) == 40
        engine.runtime.invoke(engine.function_named("indexer."), "{}")
        (machine,) = stack.resources("AWS::StepFunctions::StateMachine")
        (rule,) = rules_targeting(stack, machine)
        yield engine, rule


def deliver(engine: LocalEngine, rule: dict[str, Any], event: dict[str, Any], n: int):
    assert matches(rule, event)
    return engine.run(transform(rule["Targets"][0], event), execution_name=f"delivery-{n}")


def test_push_restarts_every_service_running_the_image_once(scenario):
    engine, rule = scenario
    event = load_event("ecr_push_web.json")
    # WHEN the push is delivered
    result = deliver(engine, rule, event, 1)
    summary = result.summary
    # THEN 11 services restart, the one deleted meanwhile fails with a clear cause, the run fails (threshold 0)
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (12, 11, 1)
    (failed,) = summary["failed_targets"]
    assert (failed["id"], failed["error"]) == (GONE, "TargetError")
    assert "no longer exists" in failed["cause"] or "not active" in failed["cause"]
    assert (result.status, summary["outcome"]) == ("FAILED", "failed")
    assert summary["notes"]["discovery"].startswith("image index")
    rows = {r["target_id"]: r for r in engine.ledger(result.run_id)}
    restarted = sorted(t for t, r in rows.items() if r["status"] == "succeeded")
    assert len(restarted) == 11
    first = deployment_ids(engine, restarted)
    recorded = {t: json.loads(rows[t]["detail"])["deployment_id"] for t in restarted}
    assert first == recorded  # each service's current deployment is the one its spoke started
    # WHEN the same event is delivered again
    again = deliver(engine, rule, event, 2)
    # THEN no service is restarted twice: same deployments, the targets are unchanged
    assert deployment_ids(engine, restarted) == first
    assert again.summary["unchanged"] == 11
    assert again.summary["succeeded"] == 0


def test_events_that_do_not_match_start_nothing(scenario):
    engine, rule = scenario
    for name in ("ecr_push_other_repository.json", "ecr_delete_web.json", "ecr_push_failed.json"):
        assert not matches(rule, load_event(name)), name
    assert engine.runtime.function(engine.spoke_function).stats.invocations == 0


BAD_EVENTS = json.loads((Path(__file__).parents[1] / "events" / "bad_ecr_events.json").read_text())


@pytest.mark.parametrize("case", BAD_EVENTS, ids=[c["name"] for c in BAD_EVENTS])
def test_malformed_events_start_nothing_or_fail_at_the_hub(scenario, case):
    engine, rule = scenario
    if case["field"] is None:
        assert not matches(rule, case["event"])
        return
    result = engine.run(transform(rule["Targets"][0], case["event"]), execution_name="bad-event")
    assert (result.status, result.error) == ("FAILED", "InvalidRunRequest")
    assert case["field"] in result.cause
    assert engine.runtime.function(engine.spoke_function).stats.invocations == 0


def test_an_untagged_push_starts_nothing_and_its_tagged_index_restarts(scenario, watched_stack):
    """A multi-arch push: per-platform manifests arrive untagged, the image index with the tag. Each event goes
    through every rule that targets the workflow, as EventBridge would deliver it."""
    engine, _ = scenario
    stack = watched_stack
    (machine,) = stack.resources("AWS::StepFunctions::StateMachine")

    def deliver_everywhere(event: dict[str, Any], name: str) -> list[Any]:
        return [
            engine.run(transform(rule["Targets"][0], event), execution_name=name)
            for rule in rules_targeting(stack, machine)
            if matches(rule, event)
        ]

    # WHEN the untagged per-platform manifest is pushed THEN no rule starts anything (on AWS the template
    # would render "tag":, and StartExecution would refuse it into the dead-letter queue)
    assert deliver_everywhere(load_event("ecr_push_untagged.json"), "untagged") == []
    assert engine.runtime.function(engine.spoke_function).stats.invocations == 0
    # WHEN the tagged index is pushed THEN its run restarts the services running the tag
    (run,) = deliver_everywhere(load_event("ecr_push_web.json"), "tagged")
    assert run.summary["total"] == 12
