"""The `eks-clusters` source on moto: EKS clusters of two accounts and two regions (moto keeps each account's EKS
apart), listed through the target role there, filtered by name and tags; a refused role; a cluster added later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

import shared.aws
from hubspoke.world import EksCluster, World, add_eks_cluster, load_eks
from shared import credentials
from shared.errors import InvalidRunRequest, RateLimitError

from .conftest import BUCKET, Aws, Context

# Accounts no other test uses; the hub runs in 123456789012, us-east-1.
A, B = "406080100120", "507090110130"
EU, AP = "eu-central-1", "ap-northeast-1"
HOME = "123456789012"


def eks(name: str, **tags: str) -> dict[str, Any]:
    return {"name": name, "tags": tags}


FLEET = {
    "eks_clusters": [eks("prod-home", tier="prod")],  # the hub's own account: not listed in the requests below
    "accounts": [
        {
            "id": A,
            "regions": [
                {"name": EU, "eks_clusters": [eks("prod-api", tier="prod"), eks("dev-api", tier="prod")]},
                {"name": AP, "eks_clusters": [eks("prod-batch", tier="prod", team="data")]},
            ],
        },
        {
            "id": B,
            "regions": [
                {"name": EU, "eks_clusters": [eks("prod-web", tier="prod"), eks("prod-old", tier="legacy")]},
                {"name": AP, "eks_clusters": [eks("prod-edge", tier="prod"), eks("prod-untagged")]},
            ],
        },
    ],
}
# prod-* with tier=prod in A and B: dev-api fails the name, prod-old and prod-untagged the tags.
SELECTED = [f"{A}/{AP}/prod-batch", f"{A}/{EU}/prod-api", f"{B}/{AP}/prod-edge", f"{B}/{EU}/prod-web"]


def source(**overrides: Any) -> dict[str, Any]:
    spec = {"type": "eks-clusters", "accounts": [A, B], "regions": [EU, AP], "name_pattern": "prod-*"}
    return {**spec, "tags": {"tier": "prod"}, **overrides}


def run(context: Context, run_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    from hub.handler import handler as hub

    request = {"operation": "noop", "run_id": run_id, "source": spec}
    out: dict[str, Any] = hub({"request": request, "execution_name": run_id}, context)
    return out


def manifest(aws: Aws, out: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=out["manifest"]["key"])["Body"].read()
    )
    return items


@pytest.fixture
def fleet(aws: Aws) -> World:
    world = World.model_validate(FLEET)
    assert load_eks("us-east-1", world) == 0  # clusters without workloads
    return world


@pytest.fixture
def hooks() -> Iterator[Any]:
    events = boto3._get_default_session().events
    registered: list[tuple[str, str]] = []

    def on(event: str, handler: Any) -> None:
        unique_id = f"test-eks-clusters-{len(registered)}"
        events.register(event, handler, unique_id=unique_id)
        registered.append((event, unique_id))

    yield on
    for event, unique_id in registered:
        events.unregister(event, unique_id=unique_id)


def error(code: str, status: int = 400) -> tuple[object, dict[str, Any]]:
    body = {"Error": {"Code": code, "Message": f"{code} (test)"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return SimpleNamespace(status_code=status, headers={}), body


def test_clusters_of_two_accounts_and_two_regions_are_listed_and_filtered(aws, fleet, context):
    out = run(context, "eks-1", source())
    items = manifest(aws, out)
    assert [t["id"] for t in items] == SELECTED
    assert out["count"] == 4
    first = items[0]
    assert first == {
        "id": f"{A}/{AP}/prod-batch",
        "account": A,
        "region": AP,
        "cluster": "prod-batch",
        "cluster_arn": f"arn:aws:eks:{AP}:{A}:cluster/prod-batch",
        "endpoint": first["endpoint"],  # moto's made-up one (no Kubernetes double here)
        "version": "1.31",
    }
    assert first["endpoint"].startswith("https://")
    assert first["endpoint"].endswith(f".{AP}.eks.amazonaws.com/")
    # Seven clusters in the listed places: dev-api fails the name, prod-old and prod-untagged the tags.
    assert out["notes"]["eks_clusters"] == {
        "accounts": 2,
        "regions": 2,
        "listed": 7,
        "selected": 4,
        "left_out": {"name": 1, "tags": 2},
    }
    assert credentials.sessions().assumed == 2  # once per account, not per region or cluster


def test_every_listed_tag_must_match_and_no_filter_takes_every_cluster(aws, fleet, context):
    out = run(context, "eks-tags", source(tags={"tier": "prod", "team": "data"}))
    assert [t["id"] for t in manifest(aws, out)] == [f"{A}/{AP}/prod-batch"]
    out = run(context, "eks-all", {"type": "eks-clusters", "accounts": [B], "regions": [AP]})
    assert [t["id"] for t in manifest(aws, out)] == [f"{B}/{AP}/prod-edge", f"{B}/{AP}/prod-untagged"]
    out = run(context, "eks-pattern", source(name_pattern="prod-[ew]*", tags={}))
    assert [t["id"] for t in manifest(aws, out)] == [f"{B}/{AP}/prod-edge", f"{B}/{EU}/prod-web"]


def test_a_cluster_added_to_the_world_is_found_by_the_next_run_with_no_setting_changed(aws, fleet, context):
    assert run(context, "eks-before", source())["count"] == 4
    add_eks_cluster(B, AP, EksCluster(name="prod-new", tags={"tier": "prod"}))
    out = run(context, "eks-after", source())
    assert out["count"] == 5
    assert [t["id"] for t in manifest(aws, out)] == sorted([*SELECTED, f"{B}/{AP}/prod-new"])


def test_the_hubs_own_account_is_listed_through_its_target_role_too(aws, fleet, context):
    out = run(context, "eks-home", {"type": "eks-clusters", "accounts": [HOME], "regions": ["us-east-1"]})
    assert [t["id"] for t in manifest(aws, out)] == [f"{HOME}/us-east-1/prod-home"]


def test_an_account_whose_role_is_refused_refuses_the_run_naming_each_region(aws, fleet, context):
    roles: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        roles.append(params["RoleArn"])

    def refuse_b(**_: Any) -> tuple[object, dict[str, Any]] | None:
        return error("AccessDenied", 403) if B in roles[-1] else None

    shared.aws.client("sts").meta.events.register("before-parameter-build.sts.AssumeRole", record)
    shared.aws.client("sts").meta.events.register("before-call.sts.AssumeRole", refuse_b)
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "eks-refused", source())
    problems = err.value.problems
    assert len(problems) == 3
    assert problems[0].startswith(f"source.accounts: cannot reach {B}/{EU}: cannot assume arn:aws:iam::{B}:role/")
    assert problems[1].startswith(f"source.accounts: cannot reach {B}/{AP}: cannot assume arn:aws:iam::{B}:role/")
    assert "skip_unreachable: true" in problems[2]
    assert aws.keys() == []
    # skip_unreachable: A's 2 clusters, B named in the notes; B's role asked once, not once per region.
    roles.clear()
    out = run(context, "eks-skipping", source(skip_unreachable=True))
    assert [t["id"] for t in manifest(aws, out)] == [f"{A}/{AP}/prod-batch", f"{A}/{EU}/prod-api"]
    notes = out["notes"]["eks_clusters"]
    assert notes["unreachable"] == 2
    assert [s.split(": ")[0] for s in notes["skipped"]] == [f"{B}/{EU}", f"{B}/{AP}"]
    assert sorted(roles) == [f"arn:aws:iam::{account}:role/hubspoke-target" for account in (A, B)]


def test_a_region_whose_eks_refuses_the_role_is_named(aws, fleet, context, hooks):
    def refuse_in_ap(context: dict[str, Any], **_: Any) -> tuple[object, dict[str, Any]] | None:
        return error("AccessDeniedException", 403) if context.get("client_region") == AP else None

    hooks("before-call.eks.ListClusters", refuse_in_ap)
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "eks-list-refused", source())
    named = [p.split(": ")[1] for p in err.value.problems[:-1]]
    assert named == [f"cannot reach {A}/{AP}", f"cannot reach {B}/{AP}"]
    assert "EKS ListClusters refused (AccessDeniedException" in err.value.problems[0]
    assert "eks:ListClusters and eks:DescribeCluster" in err.value.problems[0]


def test_a_cluster_not_serving_its_api_or_gone_is_left_out(aws, fleet, context, hooks):
    def states(parsed: dict[str, Any], **_: Any) -> None:
        # moto's clusters are ACTIVE at once; AWS describes them CREATING, UPDATING, DELETING, FAILED on the way.
        cluster = parsed.get("cluster")
        if cluster is None:
            return  # the refusal below
        cluster["status"] = {"prod-api": "CREATING", "prod-web": "UPDATING", "prod-edge": "DELETING"}.get(
            cluster["name"], cluster["status"]
        )

    def gone(params: dict[str, Any], **_: Any) -> tuple[object, dict[str, Any]] | None:
        # (the serialized request: the cluster's name is in its path)
        return error("ResourceNotFoundException", 404) if params["url_path"].endswith("/prod-batch") else None

    hooks("after-call.eks.DescribeCluster", states)
    hooks("before-call.eks.DescribeCluster", gone)
    out = run(context, "eks-status", source())
    # UPDATING serves its API: prod-web stays; CREATING and DELETING do not; prod-batch was deleted meanwhile.
    assert [t["id"] for t in manifest(aws, out)] == [f"{B}/{EU}/prod-web"]
    assert out["notes"]["eks_clusters"]["left_out"] == {"name": 1, "tags": 2, "status": 2, "gone": 1}


def test_listing_pages_100_and_describes_only_names_that_match(aws, context, hooks):
    add = [EksCluster(name=f"prod-{n:03d}", tags={"tier": "prod"}) for n in range(230)]
    add += [EksCluster(name=f"dev-{n:03d}") for n in range(20)]
    for cluster in add:
        add_eks_cluster(A, EU, cluster)
    pages: list[int] = []
    described: list[str] = []
    hooks("after-call.eks.ListClusters", lambda parsed, **_: pages.append(len(parsed["clusters"])))
    hooks("before-parameter-build.eks.DescribeCluster", lambda params, **_: described.append(params["name"]))
    out = run(context, "eks-many", {"type": "eks-clusters", "accounts": [A], "regions": [EU], "name_pattern": "prod-*"})
    assert out["count"] == 230
    assert pages == [100, 100, 50]
    assert len(described) == 230
    assert not any(name.startswith("dev-") for name in described)


def test_eks_throttling_is_a_rate_limit_error(aws, fleet, context, hooks):
    hooks("before-call.eks.DescribeCluster", lambda **_: error("ThrottlingException"))
    with pytest.raises(RateLimitError, match="EKS DescribeCluster: throttled"):
        run(context, "eks-throttled", source(skip_unreachable=True))


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"accounts": [A]}, "source.regions"),
        ({"regions": [EU]}, "source.organization"),
        ({"accounts": [A], "regions": [EU], "tags": {"tier": 3}}, "source.tags.tier"),
        ({"accounts": [A], "regions": [EU], "cluster": "prod"}, "source.cluster"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(aws, context, spec, field):
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "eks-bad-spec", {"type": "eks-clusters", **spec})
    assert any(p.startswith(f"{field}: ") for p in err.value.problems), err.value.problems
