"""Image discovery on moto ECS: pagination over 100+ services in several clusters, the batch calls, the
image matching rules, and the index (fresh vs stale)."""

from __future__ import annotations

import math
import re
from typing import Any

import boto3
import pytest

from hub.handler import handler as hub
from hubspoke.world import World, load_world
from shared.ecs_images import ImageIndex, Push, scan

from .conftest import INDEX_TABLE

REG = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32


def fleet() -> World:
    # 130 services in one cluster (more than one ListServices page), 20 in each of two others.
    clusters = []
    for name, n in (("big", 130), ("eu", 20), ("us", 20)):
        services = []
        for i in range(n):
            image = f"{REG}/web:1.4" if i % 10 == 0 else f"{REG}/api:2.0"
            services.append({"name": f"{name}-{i:03d}", "image": image})
        clusters.append({"name": name, "services": services})
    return World.model_validate({"clusters": clusters})


def page_list_services(client) -> None:
    """moto 5.2.5 answers ListServices with every service and ignores maxResults and nextToken; AWS answers
    at most maxResults (default 10, at most 100) and a nextToken for the rest. Page moto's full, sorted answer
    the way AWS does, so the scan's paginator really goes to a second page."""
    asked: dict[str, object] = {}

    def before(params: dict[str, Any], **_: object) -> None:
        asked.clear()
        asked.update(params)

    def after(parsed: dict[str, Any], **_: object) -> None:
        start = int(str(asked.get("nextToken") or 0))
        end = start + int(str(asked.get("maxResults") or 10))
        every = parsed["serviceArns"]
        parsed["serviceArns"] = every[start:end]
        if end < len(every):
            parsed["nextToken"] = str(end)

    client.meta.events.register("before-parameter-build.ecs.ListServices", before)
    client.meta.events.register("after-call.ecs.ListServices", after)


@pytest.fixture
def ecs(aws):
    client = boto3.client("ecs")
    load_world(client, fleet())
    page_list_services(client)
    return client


def count_calls(client) -> dict[str, int]:
    calls: dict[str, int] = {}

    def hook(event_name: str, **_: object) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        calls[operation] = calls.get(operation, 0) + 1

    client.meta.events.register("before-call.ecs.*", hook)
    return calls


def test_scan_pages_through_every_cluster_with_batch_calls(ecs):
    calls = count_calls(ecs)
    services = list(scan(ecs))
    assert len(services) == 170
    assert len({s.service_arn for s in services}) == 170
    assert calls["DescribeServices"] == math.ceil(130 / 10) + 2 * math.ceil(20 / 10)
    # 100 services a page: two pages for the 130-service cluster, one for each of the others.
    assert calls["ListServices"] == 2 + 1 + 1
    assert calls["DescribeTaskDefinition"] == 170  # one task definition per service here, each described once


def test_scan_of_configured_clusters_only(ecs):
    assert {s.cluster.rsplit("/", 1)[-1] for s in scan(ecs, ["eu"])} == {"eu"}


@pytest.mark.parametrize(
    ("image", "push", "expected"),
    [
        (f"{REG}/web:1.4", Push("web", "1.4", None), True),
        (f"{REG}/web:1.3", Push("web", "1.4", None), False),
        (f"{REG}/web@{DIGEST}", Push("web", "1.4", DIGEST), True),
        (f"{REG}/web:latest", Push("web", "latest", DIGEST), True),
        (f"{REG}/web", Push("web", "latest", None), True),  # no tag means latest
        (f"{REG}/webapp:1.4", Push("web", "1.4", None), False),
        ("999999999999.dkr.ecr.us-east-1.amazonaws.com/web:1.4", Push("web", "1.4", None, "123456789012"), False),
        (f"{REG}/web:1.4", Push("web", "1.4", None, "123456789012", "eu-west-1"), False),
    ],
)
def test_image_matching(image, push, expected):
    assert push.matches(image) is expected


OTHER = "sha256:" + "cd" * 32
# What an ECR push event says: account 123456789012, region us-east-1, tag 2.7, digest DIGEST.
ECR_PUSH = Push("team-payments", "2.7", DIGEST, "123456789012", "us-east-1")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        # The pushed registry, by tag; its FIPS endpoint is the same registry.
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team-payments:2.7", True),
        ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/team-payments:2.7", True),
        # Docker Hub, however it is spelled, is another image.
        ("team-payments:2.7", False),
        ("docker.io/team-payments:2.7", False),
        ("docker.io/library/team-payments:2.7", False),
        ("registry-1.docker.io/library/team-payments:2.7", False),
        # Another account, region or registry that merely contains the ECR host.
        ("999999999999.dkr.ecr.us-east-1.amazonaws.com/team-payments:2.7", False),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team-payments:2.7", False),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/team-payments:2.7", False),
        ("mirror.example/123456789012.dkr.ecr.us-east-1.amazonaws.com/team-payments:2.7", False),
        # Pinned by digest: the digest decides, whatever the tag says.
        (f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team-payments:2.7@{OTHER}", False),
        (f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team-payments:2.6@{DIGEST}", True),
        (f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team-payments@{DIGEST}", True),
        (f"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/team-payments@{DIGEST}", True),
        (f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team-payments@{OTHER}", False),
        (f"team-payments:2.7@{DIGEST}", False),
        # Another tag of the pushed registry.
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team-payments:2.6", False),
    ],
)
def test_an_ecr_push_matches_only_its_own_registry(image, expected):
    assert ECR_PUSH.matches(image) is expected


def request(tag: str = "1.4") -> dict[str, Any]:
    return {
        "operation": "ecs-restart",
        "source": {
            "type": "image-users",
            "repository": "web",
            "tag": tag,
            "digest": DIGEST,
            "registry": "123456789012",
            "region": "us-east-1",
        },
    }


def test_hub_scans_live_when_the_index_is_empty(ecs, context):
    out = hub({"request": request(), "execution_name": "push-1"}, context)
    assert out["count"] == 17
    assert out["notes"]["discovery"].startswith("scanned ECS live: the index is empty")


def test_hub_uses_a_fresh_index(ecs, aws, context):
    ImageIndex(aws.dynamodb, INDEX_TABLE).rebuild(scan(ecs), ttl_seconds=3600)
    out = hub({"request": request(), "execution_name": "push-2"}, context)
    assert out["count"] == 17
    # The index was read, not ECS; its age in minutes depends on how long this machine took, so it is not pinned.
    assert re.fullmatch(r"image index, scanned \d+ minutes ago", out["notes"]["discovery"])


def test_hub_scans_live_when_the_index_is_stale(ecs, aws, context):
    ImageIndex(aws.dynamodb, INDEX_TABLE).rebuild(scan(ecs), ttl_seconds=3600)
    aws.dynamodb.update_item(
        TableName=INDEX_TABLE,
        Key={"repository": {"S": "#meta"}, "service_arn": {"S": "#last-scan"}},
        UpdateExpression="SET scanned_at = :t",
        ExpressionAttributeValues={":t": {"N": "1"}},
    )
    out = hub({"request": request(), "execution_name": "push-3"}, context)
    assert out["count"] == 17
    assert "scanned ECS live: the index is" in out["notes"]["discovery"]


def test_inactive_services_are_skipped(ecs, context):
    ecs.delete_service(cluster="eu", service="eu-000", force=True)
    out = hub({"request": request(), "execution_name": "push-4"}, context)
    assert out["count"] == 16
    assert out["notes"]["skipped"] == ["eu/eu-000 (INACTIVE)"]


def test_a_thousand_services_across_clusters(aws):
    # GIVEN 1,050 services in 5 clusters, one in seven running web:1.4
    ecs = boto3.client("ecs")
    clusters = [
        {
            "name": f"c{c}",
            "services": [
                {"name": f"s{c}-{i:03d}", "image": f"{REG}/web:1.4" if i % 7 == 0 else f"{REG}/api:2.0"}
                for i in range(210)
            ],
        }
        for c in range(5)
    ]
    load_world(ecs, World.model_validate({"clusters": clusters}))
    calls = count_calls(ecs)
    # WHEN scanned THEN every service is found with batch calls, and the right ones match
    services = list(scan(ecs))
    assert len(services) == 1050
    assert calls["DescribeServices"] == 5 * 21
    matching = [s for s in services if any(Push("web", "1.4", None).matches(i) for i in s.images)]
    assert len(matching) == 5 * 30
