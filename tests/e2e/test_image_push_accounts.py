"""Cross-account image push end to end: a stack deployed with image_push.accounts and regions, an ECR push
event through the synthesized rule into the workflow on the embedded engine, services restarted in their own
accounts and regions (moto keeps each account's ECS apart)."""

from __future__ import annotations

from typing import Any

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.synth import synthesize_cached, watching
from hubspoke.trigger import matches, rules_targeting, transform
from hubspoke.world import World, in_account, load_world
from tests.conftest import load_event

pytestmark = pytest.mark.e2e
REG = "123456789012.dkr.ecr.us-east-1.amazonaws.com"  # the registry of tests/events/ecr_push_web.json (web:1.4)
TEAM_A, TEAM_B = "210987654321", "345678901234"
EU, AP = "eu-west-1", "ap-southeast-2"
PLACES: list[tuple[str | None, str | None]] = [(None, None), (TEAM_A, EU), (TEAM_A, AP), (TEAM_B, EU), (TEAM_B, AP)]


def cluster(name: str, services: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "services": [{"name": s, "image": image} for s, image in services.items()]}


WORLD = {
    "clusters": [cluster("shop", {"web": f"{REG}/web:1.4", "web-next": f"{REG}/web:1.5"})],
    "accounts": [
        {
            "id": TEAM_A,
            "regions": [
                {"name": EU, "clusters": [cluster("shop", {"web": f"{REG}/web:1.4", "hub": "web:1.4"})]},
                {"name": AP, "clusters": [cluster("shop", {"web": f"{REG}/web:1.4"})]},
            ],
        },
        {
            "id": TEAM_B,
            "regions": [
                {"name": EU, "clusters": [cluster("edge", {"web": f"{REG}/web:1.4", "api": f"{REG}/api:1.4"})]},
                {"name": AP, "clusters": [cluster("edge", {"web-copy": f"{REG}/webcopy:1.4"})]},
            ],
        },
    ],
}
# Written from the world: 4 of its 8 services run web:1.4 of the pushed registry.
RESTARTED = {f"{TEAM_A}/{EU}/shop/web", f"{TEAM_A}/{AP}/shop/web", f"{TEAM_B}/{EU}/edge/web", "shop/web"}


@pytest.fixture(scope="module")
def accounts_stack(synth_cache):
    overrides = watching(["web"], [])
    assert overrides is not None
    overrides["image_push"] |= {"accounts": [TEAM_A, TEAM_B], "regions": [EU, AP]}
    return synthesize_cached(synth_cache, overrides)


def deployments(engine: LocalEngine) -> dict[str, str]:
    found = {}
    for account, region in PLACES:
        ecs = in_account(engine.ecs, account, region)
        for arn in ecs.list_clusters()["clusterArns"]:
            services = ecs.list_services(cluster=arn)["serviceArns"]
            for svc in ecs.describe_services(cluster=arn, services=services)["services"]:
                where = "" if account is None else f"{account}/{region}/"
                found[f"{where}{arn.rsplit('/', 1)[-1]}/{svc['serviceName']}"] = svc["deployments"][0]["id"]
    return found


@pytest.mark.parametrize("index", [True, False], ids=["index", "live-scan"])
def test_a_push_restarts_its_services_in_every_account_and_region(accounts_stack, tmp_path, index):
    with LocalEngine(accounts_stack, time_scale=0.01, log_path=tmp_path / "l.log") as engine:
        assert load_world(engine.ecs, World.model_validate(WORLD)) == 8
        if index:
            engine.runtime.invoke(engine.function_named("indexer."), "{}")
        before = deployments(engine)
        (machine,) = accounts_stack.resources("AWS::StepFunctions::StateMachine")
        (rule,) = rules_targeting(accounts_stack, machine)
        event = load_event("ecr_push_web.json")
        assert matches(rule, event)
        # WHEN the push is delivered
        result = engine.run(transform(rule["Targets"][0], event), execution_name="push-accounts")
        # THEN the 4 services running web:1.4 restart, each in its own account and region, and nothing else
        summary = result.summary
        assert summary is not None
        assert (result.status, summary["total"], summary["succeeded"], summary["failed"]) == ("SUCCEEDED", 4, 4, 0)
        assert summary["notes"]["discovery"].startswith("image index" if index else "scanned ECS live")
        assert "unreachable" not in summary["notes"]
        after = deployments(engine)
        assert len(after) == 8
        assert {name for name in after if after[name] != before[name]} == RESTARTED
        rows = {r["target_id"] for r in engine.ledger(result.run_id)}
        assert rows == RESTARTED
