"""The `ecs-clusters` source on moto: clusters of several accounts and regions (each account's resources kept
apart by moto's multi-account support), listed through the target role there, filtered by name and tags; the
organization's accounts from moto Organizations; refusals that name the field, the account and the region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import shared.aws
from hub.handler import handler as hub
from hub.sources.ecs_clusters import Spec
from hubspoke.world import World, in_account, load_world
from shared import credentials
from shared.errors import InvalidRunRequest, RateLimitError
from shared.models import field_problems

from .conftest import BUCKET, Aws, Context

# Three accounts and two regions no other test uses; the hub itself runs in 123456789012, us-east-1.
A, B, C = "314159265358", "271828182845", "161803398874"
EU, AP = "eu-west-1", "ap-southeast-2"
HOME = "123456789012"


def cluster(name: str, **tags: str) -> dict[str, Any]:
    return {"name": name, "tags": tags}


FLEET = {
    "clusters": [cluster("prod-home", tier="prod")],  # the hub's own account: not listed in the request
    "accounts": [
        {
            "id": A,
            "regions": [
                {
                    "name": EU,
                    "clusters": [
                        cluster("prod-api", tier="prod"),
                        cluster("prod-web", tier="prod"),
                        cluster("staging-api", tier="prod"),
                    ],
                },
                {"name": AP, "clusters": [cluster("prod-batch", tier="prod", team="data")]},
            ],
        },
        {
            "id": B,
            "regions": [
                {"name": EU, "clusters": [cluster("prod-api", tier="prod"), cluster("prod-old", tier="legacy")]},
                {"name": AP, "clusters": []},
            ],
        },
        {
            "id": C,
            "regions": [
                {"name": EU, "clusters": [cluster("prod-etl", tier="prod")]},
                {
                    "name": AP,
                    "clusters": [
                        cluster("prod-etl", tier="prod"),
                        cluster("Prod-upper", tier="prod"),
                        cluster("prod-notag"),
                    ],
                },
            ],
        },
    ],
}
# What the request below selects: names matching prod-* (case-sensitive) with tier=prod, in A, B and C.
SELECTED = [
    f"{C}/{AP}/prod-etl",
    f"{C}/{EU}/prod-etl",
    f"{B}/{EU}/prod-api",
    f"{A}/{AP}/prod-batch",
    f"{A}/{EU}/prod-api",
    f"{A}/{EU}/prod-web",
]


def source(**overrides: Any) -> dict[str, Any]:
    spec = {
        "type": "ecs-clusters",
        "accounts": [A, B, C],
        "regions": [EU, AP],
        "name_pattern": "prod-*",
        "tags": {"tier": "prod"},
    }
    return {**spec, **overrides}


def run(context: Context, run_id: str, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    request = {"operation": "noop", "run_id": run_id, "source": spec, **extra}
    out: dict[str, Any] = hub({"request": request, "execution_name": run_id}, context)
    return out


def manifest(aws: Aws, out: dict[str, Any]) -> list[dict[str, Any]]:
    body = aws.s3.get_object(Bucket=BUCKET, Key=out["manifest"]["key"])["Body"].read()
    items: list[dict[str, Any]] = json.loads(body)
    return items


@pytest.fixture
def fleet(aws: Aws) -> World:
    world = World.model_validate(FLEET)
    load_world(boto3.client("ecs"), world)
    return world


class Hooks:
    """Handlers on boto3's default session, which every client the hub creates (its own and the target role's)
    copies when it is created; removed after the test."""

    def __init__(self) -> None:
        self.events = boto3._get_default_session().events
        self.registered: list[tuple[str, str]] = []

    def on(self, event: str, handler: Any) -> None:
        unique_id = f"test-ecs-clusters-{len(self.registered)}"
        self.events.register(event, handler, unique_id=unique_id)
        self.registered.append((event, unique_id))

    def remove(self) -> None:
        for event, unique_id in self.registered:
            self.events.unregister(event, unique_id=unique_id)


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    found = Hooks()
    yield found
    found.remove()


def error(code: str, status: int = 400) -> tuple[object, dict[str, Any]]:
    """An AWS error answer (as after botocore's own retries), for refusals moto never gives."""
    body = {"Error": {"Code": code, "Message": f"{code} (test)"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return SimpleNamespace(status_code=status, headers={}), body


# --- discovery ---------------------------------------------------------------------------------------------------


def test_every_account_and_region_is_listed_and_filtered_into_sorted_targets(aws, fleet, context):
    out = run(context, "clusters-1", source())
    items = manifest(aws, out)
    assert [t["id"] for t in items] == SELECTED
    assert out["count"] == 6
    assert items[0] == {
        "id": f"{C}/{AP}/prod-etl",
        "account": C,
        "region": AP,
        "cluster": "prod-etl",
        "cluster_arn": f"arn:aws:ecs:{AP}:{C}:cluster/prod-etl",
    }
    # Ten clusters in the listed places: staging-api and Prod-upper fail the name, prod-old and prod-notag the tags.
    assert out["notes"]["ecs_clusters"] == {
        "accounts": 3,
        "regions": 2,
        "listed": 10,
        "selected": 6,
        "left_out": {"name": 2, "tags": 2},
    }
    # One AssumeRole per account for the whole run, not one per region or per cluster.
    assert credentials.sessions().assumed == 3


def test_without_a_pattern_or_tags_every_cluster_of_the_places_is_a_target(aws, fleet, context):
    out = run(context, "clusters-all", {"type": "ecs-clusters", "accounts": [B], "regions": [EU]})
    assert [t["id"] for t in manifest(aws, out)] == [f"{B}/{EU}/prod-api", f"{B}/{EU}/prod-old"]


def test_every_listed_tag_must_match(aws, fleet, context):
    out = run(context, "clusters-tags", source(tags={"tier": "prod", "team": "data"}))
    assert [t["id"] for t in manifest(aws, out)] == [f"{A}/{AP}/prod-batch"]


def test_a_cluster_added_to_a_listed_account_is_found_on_the_next_run(aws, fleet, context):
    assert run(context, "before", source())["count"] == 6
    in_account(boto3.client("ecs"), B, AP).create_cluster(
        clusterName="prod-new", tags=[{"key": "tier", "value": "prod"}]
    )
    out = run(context, "after", source())
    assert out["count"] == 7
    assert f"{B}/{AP}/prod-new" in [t["id"] for t in manifest(aws, out)]


def test_the_hubs_own_account_is_listed_through_its_target_role_too(aws, fleet, context):
    out = run(context, "home", {"type": "ecs-clusters", "accounts": [HOME], "regions": ["us-east-1"]})
    assert [t["id"] for t in manifest(aws, out)] == [f"{HOME}/us-east-1/prod-home"]
    assert credentials.sessions().assumed == 1


def test_a_cluster_that_is_not_active_is_left_out(aws, fleet, context, hooks):
    def being_deleted(parsed: dict[str, Any], **_: Any) -> None:
        # moto deletes a cluster at once; AWS describes one being deleted as DEPROVISIONING, then INACTIVE.
        for described in parsed["clusters"]:
            if described["clusterName"] == "prod-web":
                described["status"] = "DEPROVISIONING"

    hooks.on("after-call.ecs.DescribeClusters", being_deleted)
    out = run(context, "inactive", source())
    assert [t["id"] for t in manifest(aws, out)] == [i for i in SELECTED if i != f"{A}/{EU}/prod-web"]
    assert out["notes"]["ecs_clusters"]["left_out"] == {"name": 2, "tags": 2, "status": 1}


def test_listing_pages_and_describes_at_most_100_clusters_a_call(aws, context, hooks):
    ecs = in_account(boto3.client("ecs"), A, EU)
    for n in range(250):
        ecs.create_cluster(clusterName=f"prod-{n:03d}", tags=[{"key": "tier", "value": "prod"}])
    asked: dict[str, Any] = {}
    calls: dict[str, list[int]] = {"ListClusters": [], "DescribeClusters": []}

    def before_list(params: dict[str, Any], **_: Any) -> None:
        asked.clear()
        asked.update(params)

    def after_list(parsed: dict[str, Any], **_: Any) -> None:
        # moto answers every cluster at once; AWS answers at most maxResults (at most 100) and a nextToken.
        start = int(str(asked.get("nextToken") or 0))
        end = start + int(str(asked.get("maxResults") or 100))
        every = parsed["clusterArns"]
        parsed["clusterArns"] = every[start:end]
        calls["ListClusters"].append(len(parsed["clusterArns"]))
        if end < len(every):
            parsed["nextToken"] = str(end)

    def before_describe(params: dict[str, Any], **_: Any) -> None:
        calls["DescribeClusters"].append(len(params["clusters"]))
        assert params["include"] == ["TAGS"]

    hooks.on("before-parameter-build.ecs.ListClusters", before_list)
    hooks.on("after-call.ecs.ListClusters", after_list)
    hooks.on("before-parameter-build.ecs.DescribeClusters", before_describe)
    out = run(context, "many", {"type": "ecs-clusters", "accounts": [A], "regions": [EU], "tags": {"tier": "prod"}})
    assert out["count"] == 250
    assert calls == {"ListClusters": [100, 100, 50], "DescribeClusters": [100, 100, 50]}
    assert [t["id"] for t in manifest(aws, out)][:2] == [f"{A}/{EU}/prod-000", f"{A}/{EU}/prod-001"]


# --- the organization --------------------------------------------------------------------------------------------


def test_the_organizations_active_accounts_are_listed_page_by_page(aws, context, hooks):
    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")  # by the hub's account: its management account
    made = [
        organizations.create_account(AccountName=f"team-{n}", Email=f"team-{n}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for n in range(23)
    ]
    # moto gives created accounts random 12-digit ids; the world is built on the ids it gave.
    closed = made.pop()
    organizations.close_account(AccountId=closed)  # SUSPENDED: not an ACTIVE account, so not listed
    for account in (made[0], made[21], closed):
        in_account(boto3.client("ecs"), account, EU).create_cluster(clusterName="prod-svc")
    in_account(boto3.client("ecs"), HOME, EU).create_cluster(clusterName="prod-mgmt")
    pages: list[int] = []
    hooks.on("after-call.organizations.ListAccounts", lambda parsed, **_: pages.append(len(parsed["Accounts"])))
    out = run(context, "org", {"type": "ecs-clusters", "organization": True, "regions": [EU]})
    expected = sorted([f"{made[0]}/{EU}/prod-svc", f"{made[21]}/{EU}/prod-svc", f"{HOME}/{EU}/prod-mgmt"])
    assert [t["id"] for t in manifest(aws, out)] == expected
    # 22 created and active plus the management account, over two ListAccounts pages of at most 20.
    assert out["notes"]["ecs_clusters"]["organization_accounts"] == 23
    assert pages == [20, 4]
    assert out["notes"]["ecs_clusters"]["accounts"] == 23
    assert credentials.sessions().assumed == 23


def test_the_organization_is_narrowed_to_the_deployments_allowed_accounts(aws, context, monkeypatch):
    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    made = organizations.create_account(AccountName="team-a", Email="a@example.com")["CreateAccountStatus"]["AccountId"]
    in_account(boto3.client("ecs"), made, EU).create_cluster(clusterName="prod-svc")
    in_account(boto3.client("ecs"), HOME, EU).create_cluster(clusterName="prod-mgmt")
    monkeypatch.setenv("CROSS_ACCOUNT_ACCOUNTS", made)
    out = run(context, "org-narrow", {"type": "ecs-clusters", "organization": True, "regions": [EU]})
    assert [t["id"] for t in manifest(aws, out)] == [f"{made}/{EU}/prod-svc"]
    notes = out["notes"]["ecs_clusters"]
    assert (notes["organization_accounts"], notes["outside_cross_account_accounts"]) == (2, 1)


def test_no_organization_refuses_the_run_naming_the_field(aws, context):
    # moto answers ListAccounts outside an organization with no account at all (AWS: AWSOrganizationsNotInUse).
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "no-org", {"type": "ecs-clusters", "organization": True, "regions": [EU]})
    (problem,) = err.value.problems
    assert problem.startswith("source.organization: ")
    assert "management account or a delegated administrator" in problem
    assert aws.keys() == []


@pytest.mark.parametrize("code", ["AWSOrganizationsNotInUseException", "AccessDeniedException"])
def test_organizations_refusing_listaccounts_refuses_the_run(aws, context, hooks, code):
    hooks.on("before-call.organizations.ListAccounts", lambda **_: error(code))
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "org-refused", {"type": "ecs-clusters", "organization": True, "regions": [EU]})
    (problem,) = err.value.problems
    assert problem.startswith(f"source.organization: AWS Organizations refused ListAccounts ({code})")
    assert aws.keys() == []


# --- places the hub cannot reach ----------------------------------------------------------------------------------


def test_an_account_the_deployment_may_not_reach_refuses_the_run_naming_it_in_each_region(
    aws, fleet, context, monkeypatch
):
    monkeypatch.setenv("CROSS_ACCOUNT_ACCOUNTS", f"{A},{C}")
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "refused", source())
    problems = err.value.problems
    assert [p.split(": ")[0] for p in problems] == ["source.accounts"] * 3
    assert problems[0].startswith(f"source.accounts: cannot reach {B}/{EU}: account {B} is not in the deployment's")
    assert problems[1].startswith(f"source.accounts: cannot reach {B}/{AP}: account {B} is not in the deployment's")
    assert "skip_unreachable: true" in problems[2]
    assert aws.keys() == []
    assert aws.dynamodb.scan(TableName="ledger-test")["Count"] == 0


def test_skip_unreachable_leaves_those_places_out_and_says_so(aws, fleet, context, monkeypatch):
    monkeypatch.setenv("CROSS_ACCOUNT_ACCOUNTS", f"{A},{C}")
    out = run(context, "skipping", source(skip_unreachable=True))
    assert [t["id"] for t in manifest(aws, out)] == [i for i in SELECTED if not i.startswith(B)]
    notes = out["notes"]["ecs_clusters"]
    assert notes["unreachable"] == 2
    assert [s.split(": ")[0] for s in notes["skipped"]] == [f"{B}/{EU}", f"{B}/{AP}"]


def test_a_refused_assume_role_is_asked_once_per_account_and_names_it(aws, fleet, context, hooks):
    roles: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        roles.append(params["RoleArn"])

    def refuse_b(**_: Any) -> tuple[object, dict[str, Any]] | None:
        return error("AccessDenied", 403) if B in roles[-1] else None

    shared.aws.client("sts").meta.events.register("before-parameter-build.sts.AssumeRole", record)
    shared.aws.client("sts").meta.events.register("before-call.sts.AssumeRole", refuse_b)
    out = run(context, "assume-refused", source(skip_unreachable=True))
    assert [t["id"] for t in manifest(aws, out)] == [i for i in SELECTED if not i.startswith(B)]
    assert sorted(roles) == [f"arn:aws:iam::{account}:role/hubspoke-target" for account in (C, B, A)]
    skipped = out["notes"]["ecs_clusters"]["skipped"]
    assert [s.split(": ")[0] for s in skipped] == [f"{B}/{EU}", f"{B}/{AP}"]
    assert f"cannot assume arn:aws:iam::{B}:role/hubspoke-target (AccessDenied" in skipped[0]


def test_a_region_whose_ecs_refuses_the_role_is_named(aws, fleet, context, hooks):
    def refuse_in_ap(context: dict[str, Any], **_: Any) -> tuple[object, dict[str, Any]] | None:
        return error("AccessDeniedException") if context.get("client_region") == AP else None

    hooks.on("before-call.ecs.ListClusters", refuse_in_ap)
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "ecs-refused", source())
    named = [p.split(": ")[1] for p in err.value.problems[:-1]]
    assert named == [f"cannot reach {C}/{AP}", f"cannot reach {B}/{AP}", f"cannot reach {A}/{AP}"]
    assert "ECS ListClusters refused (AccessDeniedException" in err.value.problems[0]


def test_sts_throttling_is_retried_by_the_state_machine_not_skipped(aws, fleet, context, hooks):
    shared.aws.client("sts").meta.events.register("before-call.sts.AssumeRole", lambda **_: error("Throttling"))
    with pytest.raises(RateLimitError, match="STS throttled"):
        run(context, "throttled", source(skip_unreachable=True))
    assert aws.keys() == []


def test_ecs_throttling_is_a_rate_limit_error(aws, fleet, context, hooks):
    hooks.on("before-call.ecs.DescribeClusters", lambda **_: error("ThrottlingException"))
    with pytest.raises(RateLimitError, match="ECS DescribeClusters: throttled"):
        run(context, "ecs-throttled", source(skip_unreachable=True))


# --- bad specs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"accounts": [A]}, "source.regions"),
        ({"accounts": [A], "regions": []}, "source.regions"),
        ({"accounts": [A], "regions": ["Europe"]}, "source.regions[0]"),
        ({"accounts": [A], "regions": [EU, EU]}, "source.regions"),
        ({"accounts": ["12345"], "regions": [EU]}, "source.accounts[0]"),
        ({"accounts": [], "regions": [EU]}, "source.accounts"),
        ({"accounts": [A, A], "regions": [EU]}, "source.accounts"),
        ({"regions": [EU]}, "source.organization"),
        ({"accounts": [A], "organization": True, "regions": [EU]}, "source.organization"),
        ({"organization": "yes", "regions": [EU]}, "source.organization"),
        ({"accounts": [A], "regions": [EU], "name_pattern": ""}, "source.name_pattern"),
        ({"accounts": [A], "regions": [EU], "tags": {"tier": 3}}, "source.tags.tier"),
        ({"accounts": [A], "regions": [EU], "tags": ["tier"]}, "source.tags"),
        ({"accounts": [A], "regions": [EU], "skip_unreachable": "sometimes"}, "source.skip_unreachable"),
        ({"accounts": [A], "regions": [EU], "cluster": "prod"}, "source.cluster"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(aws, context, spec, field):
    with pytest.raises(InvalidRunRequest) as err:
        run(context, "bad-spec", {"type": "ecs-clusters", **spec})
    assert any(p.startswith(f"{field}: ") for p in err.value.problems), err.value.problems
    assert aws.keys() == []


spec_like = st.fixed_dictionaries(
    {"type": st.just("ecs-clusters")},
    optional={
        "accounts": st.none() | st.lists(st.sampled_from([A, B, "12345", "", 314159265358]), max_size=3),
        "organization": st.none() | st.booleans() | st.sampled_from(["yes", 1, 0]),
        "regions": st.none() | st.lists(st.sampled_from([EU, AP, "Europe", "", "eu-west-1 "]), max_size=3),
        "name_pattern": st.none() | st.text(max_size=5),
        "tags": st.none() | st.dictionaries(st.text(max_size=3), st.text(max_size=3) | st.integers(), max_size=2),
        "skip_unreachable": st.booleans() | st.none(),
        "other": st.integers(),
    },
)


@settings(max_examples=300, deadline=None)
@given(raw=spec_like)
def test_a_spec_is_accepted_only_when_well_formed_and_refused_naming_a_source_field(raw):
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as err:
        problems = field_problems(err, prefix="source")
        assert problems
        assert all(p.startswith("source.") and p.partition(": ")[2] for p in problems), problems
        return
    assert (spec.accounts is not None) != spec.organization
    assert spec.regions
    assert len(set(spec.regions)) == len(spec.regions)
    assert all(r in (EU, AP) for r in spec.regions)
    assert all(a in (A, B) for a in spec.accounts or [])
    assert "other" not in raw
