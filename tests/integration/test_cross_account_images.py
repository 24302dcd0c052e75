"""Cross-account image push on moto: the index and the live scan cover this account and every image_push account
x region (under the cross-account role, moto's assumed-role credentials acting in that account), and ecs-restart
restarts each service in its own account and region.

The world: the pushed image web:3.1 of registry 123456789012/us-east-1 runs in 1 service here and in 5 services of
2 other accounts x 2 regions; 6 look-alikes (another tag, repository, registry, Docker Hub, digest) must not match.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from indexer.handler import handler as indexer

from hub.handler import handler as hub
from hubspoke.world import World, in_account, load_world
from shared import credentials
from shared.ecs_images import ImageIndex
from spoke.handler import handler as spoke

from .conftest import BUCKET, INDEX_TABLE

REG = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "3a" * 32
OTHER_DIGEST = "sha256:" + "3b" * 32
EU, USW = "eu-west-1", "us-west-2"
TEAM_A, TEAM_B = "210987654321", "345678901234"

WORLD = {
    "clusters": [
        {
            "name": "prod",
            "services": [
                {"name": "web", "image": f"{REG}/web:3.1"},
                {"name": "web-old", "image": f"{REG}/web:3.0"},  # another tag
                {"name": "webapp", "image": f"{REG}/webapp:3.1"},  # another repository
            ],
        }
    ],
    "accounts": [
        {
            "id": TEAM_A,
            "regions": [
                {
                    "name": EU,
                    "clusters": [
                        {
                            "name": "prod",  # the same cluster and service names as this account's
                            "services": [
                                {"name": "web", "image": f"{REG}/web:3.1"},
                                {"name": "hub-web", "image": "web:3.1"},  # Docker Hub's web
                                {"name": "mirror", "image": "999999999999.dkr.ecr.us-east-1.amazonaws.com/web:3.1"},
                            ],
                        }
                    ],
                },
                {
                    "name": USW,
                    "clusters": [
                        {
                            "name": "prod",
                            "services": [
                                {"name": "web", "image": f"{REG}/web:3.1"},
                                {"name": "worker", "image": f"{REG}/web:3.1"},
                            ],
                        }
                    ],
                },
            ],
        },
        {
            "id": TEAM_B,
            "regions": [
                {
                    "name": EU,
                    "clusters": [
                        {
                            "name": "prod",
                            "services": [
                                {"name": "web", "image": f"{REG}/web:3.1"},
                                {"name": "api", "image": f"{REG}/api:3.1"},  # another repository
                            ],
                        }
                    ],
                },
                {
                    "name": USW,
                    "clusters": [
                        {
                            "name": "batch",
                            "services": [
                                {"name": "pinned", "image": f"{REG}/web:3.0@{DIGEST}"},  # the pushed digest
                                {"name": "pinned-old", "image": f"{REG}/web:3.1@{OTHER_DIGEST}"},  # another digest
                            ],
                        }
                    ],
                },
            ],
        },
    ],
}

# Written from the world above: the ids of the services running the pushed image.
EXPECTED_TARGETS = {
    "prod/web": (None, None),
    f"{TEAM_A}/{EU}/prod/web": (TEAM_A, EU),
    f"{TEAM_A}/{USW}/prod/web": (TEAM_A, USW),
    f"{TEAM_A}/{USW}/prod/worker": (TEAM_A, USW),
    f"{TEAM_B}/{EU}/prod/web": (TEAM_B, EU),
    f"{TEAM_B}/{USW}/batch/pinned": (TEAM_B, USW),
}


def request() -> dict[str, Any]:
    return {
        "operation": "ecs-restart",
        "source": {
            "type": "image-users",
            "repository": "web",
            "tag": "3.1",
            "digest": DIGEST,
            "registry": "123456789012",
            "region": "us-east-1",
        },
    }


@pytest.fixture
def fleet(aws, monkeypatch):
    monkeypatch.setenv("IMAGE_PUSH_ACCOUNTS", f"{TEAM_A},{TEAM_B}")
    monkeypatch.setenv("IMAGE_PUSH_REGIONS", f"{EU},{USW}")
    ecs = boto3.client("ecs")
    assert load_world(ecs, World.model_validate(WORLD)) == 12
    return ecs


def deployments(ecs: Any) -> dict[str, list[str]]:
    """Every service's deployment ids, by target-style id, read in each service's own account and region."""
    found = {}
    for account, region in ((None, None), (TEAM_A, EU), (TEAM_A, USW), (TEAM_B, EU), (TEAM_B, USW)):
        client = in_account(ecs, account, region)
        for cluster in client.list_clusters()["clusterArns"]:
            name = cluster.rsplit("/", 1)[-1]
            arns = client.list_services(cluster=cluster)["serviceArns"]
            for svc in client.describe_services(cluster=cluster, services=arns)["services"]:
                where = "" if account is None else f"{account}/{region}/"
                found[f"{where}{name}/{svc['serviceName']}"] = [d["id"] for d in svc["deployments"]]
    return found


def targets_of(aws: Any, out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (key,) = out["waves"]["keys"]
    items = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return {t["id"]: t for t in items}


def test_the_index_covers_every_account_and_region(fleet, aws, context):
    # WHEN the indexer runs
    out = indexer({}, context)
    # THEN it indexed 12 services (one image each: one row each) in 5 places, none unreachable
    assert out == {"rows": 12, "unreachable": {}}
    rows = {
        (r.account, r.region, r.cluster.rsplit("/", 1)[-1], r.service)
        for repository in ("web", "webapp", "api")
        for r in ImageIndex(aws.dynamodb, INDEX_TABLE).services(repository)
    }
    assert len(rows) == 12  # Docker Hub's web and the mirror's are repository "web" too
    assert (TEAM_B, USW, "batch", "pinned") in rows
    assert (None, None, "prod", "web") in rows
    assert (TEAM_A, EU, "prod", "web") in rows
    raw = aws.dynamodb.scan(TableName=INDEX_TABLE)["Items"]
    own = [i for i in raw if i["service_arn"]["S"].startswith("arn:aws:ecs:us-east-1:123456789012:")]
    assert len(own) == 3
    assert all("account" not in i and "region" not in i for i in own)  # this account's rows are as they were
    team_b_usw = [
        i for i in raw if ":345678901234:" in i["service_arn"]["S"] and ":us-west-2:" in i["service_arn"]["S"]
    ]
    assert {(i["account"]["S"], i["region"]["S"]) for i in team_b_usw} == {(TEAM_B, USW)}
    assert len(team_b_usw) == 2


@pytest.mark.parametrize("indexed", [True, False], ids=["index", "live-scan"])
def test_a_push_restarts_the_image_in_every_account_and_region(fleet, aws, context, indexed):
    if indexed:
        indexer({}, context)
    before = deployments(fleet)
    assert len(before) == 12
    assert all(len(ids) == 1 for ids in before.values())
    # WHEN the push's run is discovered
    out = hub({"request": request(), "execution_name": "push-31"}, context)
    # THEN the 6 services running web:3.1 (or its digest) are its targets, each with its own account and region
    assert out["notes"]["discovery"].startswith("image index" if indexed else "scanned ECS live")
    assert "unreachable" not in out["notes"]
    targets = targets_of(aws, out)
    assert {tid: (t.get("account"), t.get("region")) for tid, t in targets.items()} == EXPECTED_TARGETS
    assert "account" not in targets["prod/web"]
    assert targets[f"{TEAM_B}/{EU}/prod/web"]["cluster"] == f"arn:aws:ecs:{EU}:{TEAM_B}:cluster/prod"
    # WHEN each target's spoke runs
    for target in targets.values():
        result = spoke({"run": out["run"], "target": target, "retry_count": 0}, context)
        assert result["status"] == "succeeded", target["id"]
    # THEN exactly those 6 services have a new deployment, in their own account and region; the 6 others none
    after = deployments(fleet)
    restarted = {name for name, ids in after.items() if ids != before[name]}
    assert restarted == set(EXPECTED_TARGETS)
    rows = aws.rows("push-31")
    for name in restarted:
        # The deployment the spoke recorded is the one now primary in that account.
        assert rows[name].detail["deployment_id"] == after[name][0], name
    # 2 other accounts: the hub (live scan) and the spokes share one container here, one AssumeRole per account
    # and run, plus the indexer's own session per account
    assert credentials.sessions().assumed == (4 if indexed else 2)


def test_a_second_delivery_restarts_nothing_in_any_account(fleet, aws, context):
    indexer({}, context)
    first = hub({"request": request(), "execution_name": "push-a"}, context)
    for target in targets_of(aws, first).values():
        spoke({"run": first["run"], "target": target, "retry_count": 0}, context)
    once = deployments(fleet)
    # WHEN the same push is delivered again (another run id)
    again = hub({"request": request(), "execution_name": "push-b"}, context)
    statuses = [
        spoke({"run": again["run"], "target": t, "retry_count": 0}, context)["status"]
        for t in targets_of(aws, again).values()
    ]
    # THEN every target is unchanged and no account has a new deployment
    assert statuses == ["unchanged"] * 6
    assert deployments(fleet) == once


def test_an_unreachable_account_region_is_recorded_and_the_rest_indexed(fleet, aws, context, monkeypatch):
    # GIVEN image_push.clusters names "prod", which TEAM_B has not in us-west-2: ECS answers ClusterNotFound there
    monkeypatch.setenv("ECS_CLUSTERS", "prod")
    # WHEN the indexer runs THEN the other 4 places are indexed and the meta row names the missing one
    out = indexer({}, context)
    assert out["rows"] == 10
    assert list(out["unreachable"]) == [f"{TEAM_B}/{USW}"]
    assert out["unreachable"][f"{TEAM_B}/{USW}"].startswith("ClusterNotFoundException")
    meta = ImageIndex(aws.dynamodb, INDEX_TABLE).meta()
    assert meta is not None
    assert meta["unreachable"] == out["unreachable"]
    # WHEN a push is discovered from that index THEN 5 targets, and the run's notes name the place
    hub_out = hub({"request": request(), "execution_name": "push-32"}, context)
    assert hub_out["count"] == 5
    assert f"{TEAM_B}/{USW}/batch/pinned" not in targets_of(aws, hub_out)
    assert list(hub_out["notes"]["unreachable"]) == [f"{TEAM_B}/{USW}"]


def test_an_account_the_role_may_not_be_assumed_in_is_noted_by_the_live_scan(fleet, aws, context, monkeypatch):
    # GIVEN the deployment may assume its role in TEAM_A only (cross_account.accounts): TEAM_B is refused with
    # CredentialsError, as an AssumeRole that AccessDenied is
    monkeypatch.setenv("CROSS_ACCOUNT_ACCOUNTS", TEAM_A)
    # WHEN the hub scans live THEN TEAM_B's 2 regions are noted, and the 4 targets elsewhere are found
    out = hub({"request": request(), "execution_name": "push-33"}, context)
    assert out["count"] == 4
    assert set(out["notes"]["unreachable"]) == {f"{TEAM_B}/{EU}", f"{TEAM_B}/{USW}"}
    assert all(why.startswith("CredentialsError: account 345678901234") for why in out["notes"]["unreachable"].values())
    assert {t.get("account") for t in targets_of(aws, out).values()} == {None, TEAM_A}


def test_clusters_named_alike_in_two_accounts_are_restarted_once_each(fleet, aws, context):
    # GIVEN hand-written targets naming cluster "prod" without its ARN, in TEAM_A and TEAM_B (same region, same
    # service, same digest): only their account tells them apart
    targets = [
        {
            "id": f"{account}-web",
            "cluster": "prod",
            "service": "web",
            "digest": DIGEST,
            "account": account,
            "region": EU,
        }
        for account in (TEAM_A, TEAM_B)
    ]
    out = hub(
        {
            "request": {"operation": "ecs-restart", "source": {"type": "static", "targets": targets}},
            "execution_name": "by-name",
        },
        context,
    )
    before = deployments(fleet)
    # WHEN both spokes run THEN both restart (neither is the other's duplicate), each in its own account
    statuses = [spoke({"run": out["run"], "target": t, "retry_count": 0}, context)["status"] for t in targets]
    assert statuses == ["succeeded", "succeeded"]
    after = deployments(fleet)
    assert {name for name, ids in after.items() if ids != before[name]} == {
        f"{TEAM_A}/{EU}/prod/web",
        f"{TEAM_B}/{EU}/prod/web",
    }


def test_this_account_listed_among_the_accounts_is_scanned_once(fleet, aws, context, monkeypatch):
    # GIVEN image_push.accounts names this deployment's own account too, in its own region
    monkeypatch.setenv("IMAGE_PUSH_ACCOUNTS", f"123456789012,{TEAM_A}")
    monkeypatch.setenv("IMAGE_PUSH_REGIONS", "us-east-1")
    # WHEN the indexer runs THEN this account's 3 services are indexed once, as this account's (no account/region)
    assert indexer({}, context)["rows"] == 3
    raw = aws.dynamodb.scan(TableName=INDEX_TABLE)["Items"]
    assert len([i for i in raw if i["repository"]["S"] != "#meta"]) == 3
    assert all("account" not in i for i in raw)
    out = hub({"request": request(), "execution_name": "push-34"}, context)
    assert set(targets_of(aws, out)) == {"prod/web"}
