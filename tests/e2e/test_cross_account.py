"""Issue 13 end to end on the embedded engine: an operation across ECS clusters in three accounts and two regions,
each spoke under its cluster's account's role (numbers used by no other test).

The world: accounts A and B hold HubSpokeTargetRole trusting the hub and spoke; account C's role trusts only the
hub (an old role stack), so the hub lists C's clusters but every spoke there is refused. 12 clusters, 2 of which the
name pattern leaves out; B's prod-api task exits 3; A's prod-ledger task outlives the spoke's wait, so its retry
must wait on the same task.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubspoke.engine import LocalEngine
from hubspoke.synth import SynthesizedStack, synthesize_cached
from hubspoke.world import World, load_into_engine

pytestmark = pytest.mark.e2e

A, B, C = "501234567890", "502345678901", "503456789012"
EU, AP = "eu-central-1", "ap-southeast-2"
EXTERNAL_ID = "hubspoke-e2e-7f3a91"
MIGRATE = {"family": "db-migrate", "containers": [{"name": "migrate", "image": "registry/migrate:9"}]}


def region(name: str, *clusters: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "clusters": list(clusters), "task_definitions": [MIGRATE]}


def world(extra_in_a_ap: list[dict[str, Any]] | None = None) -> World:
    return World.model_validate(
        {
            "accounts": [
                {
                    "id": A,
                    "regions": [
                        region(EU, {"name": "prod-payments"}, {"name": "prod-search"}, {"name": "staging-search"}),
                        region(
                            AP,
                            {"name": "prod-ledger", "task": {"exit_code": 0, "seconds": 400}},
                            {"name": "prod-mail"},
                            *(extra_in_a_ap or []),
                        ),
                    ],
                },
                {
                    "id": B,
                    "regions": [
                        region(EU, {"name": "prod-api", "task": {"exit_code": 3, "seconds": 20}}, {"name": "prod-web"}),
                        region(AP, {"name": "prod-batch"}, {"name": "dev-batch"}),
                    ],
                },
                {
                    "id": C,
                    "trusts": ["hub"],
                    "regions": [
                        region(EU, {"name": "prod-legacy"}),
                        region(AP, {"name": "prod-archive"}, {"name": "prod-reports"}),
                    ],
                },
            ]
        }
    )


def request(run_id: str, threshold: float) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "operation": "ecs-run-task",
        # 240 s: the default wait; prod-ledger's 400 s task outlives it once.
        "params": {"task_definition": "db-migrate", "container": "migrate", "command": ["migrate", "--to", "42"]},
        "source": {"type": "ecs-clusters", "accounts": [A, B, C], "regions": [EU, AP], "name_pattern": "prod-*"},
        "max_concurrency": 4,
        "failure_threshold_percent": threshold,
    }


REACHABLE = {
    (A, EU): ["prod-payments", "prod-search"],
    (A, AP): ["prod-ledger", "prod-mail"],
    (B, EU): ["prod-api", "prod-web"],
    (B, AP): ["prod-batch"],
}
REFUSED = [f"{C}/{EU}/prod-legacy", f"{C}/{AP}/prod-archive", f"{C}/{AP}/prod-reports"]


@pytest.fixture(scope="module")
def cross_stack(synth_cache: Path) -> SynthesizedStack:
    """The stack deployed with an external id (its target role then requires it)."""
    return synthesize_cached(synth_cache, {"cross_account": {"external_id": EXTERNAL_ID}})


@pytest.fixture
def fleet(cross_stack: SynthesizedStack, tmp_path: Path) -> Iterator[LocalEngine]:
    with LocalEngine(cross_stack, time_scale=0.01, log_path=tmp_path / "lambda.log") as engine:
        load_into_engine(engine, world())
        yield engine


def run_tasks(engine: LocalEngine) -> dict[str, int]:
    """RunTask calls per cluster, for every cluster of the world."""
    return {
        f"{account}/{place}/{cluster.name}": engine.tasks.run_tasks(account, place, cluster.name)
        for account, place, cluster in world().places()
    }


def assumed(engine: LocalEngine) -> int:
    """Successful AssumeRole calls the functions made (the credentials module's count, all functions)."""
    from hubspoke.engine.runtime import lambda_module

    credentials = lambda_module(engine.runtime, "shared.credentials")
    return int(credentials.sessions().assumed)


def test_ten_clusters_in_three_accounts_each_under_its_own_role(
    fleet: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.sts.models import STSBackend

    # What each AssumeRole asked STS for (moto's backend, as patched by the trust adaptation, still answers)
    asked: list[dict[str, Any]] = []
    answer = STSBackend.assume_role

    def recorded(self: STSBackend, **kwargs: Any) -> Any:
        asked.append(kwargs)
        return answer(self, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", recorded)
    # WHEN the operation runs over every prod-* cluster of the three accounts in both regions (threshold 30 %)
    result = fleet.run(request("fleet-13", 30.0))
    summary = result.summary
    assert summary is not None
    # THEN 10 targets: 6 succeed, C's 3 fail CredentialsError naming the role, prod-api fails with exit code 3
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (10, 6, 4, 0)
    # 40 % failed is over the 30 % threshold: the run fails
    assert (result.status, summary["outcome"]) == ("FAILED", "failed")
    failed = {t["id"]: t for t in summary["failed_targets"]}
    assert sorted(failed) == sorted([f"{B}/{EU}/prod-api", *REFUSED])
    for target in REFUSED:
        assert failed[target]["error"] == "CredentialsError"
        assert f"arn:aws:iam::{C}:role/hubspoke-target" in failed[target]["cause"]
        assert "AccessDenied" in failed[target]["cause"]
        assert failed[target]["attempts"] == 1  # never retried
    assert failed[f"{B}/{EU}/prod-api"]["error"] == "TargetError"
    assert "exit code 3" in failed[f"{B}/{EU}/prod-api"]["cause"]
    # AND each task ran in its own account and region, once, even prod-ledger whose first wait ran out
    expected = {f"{a}/{r}/{c}": 1 for (a, r), names in REACHABLE.items() for c in names}
    assert {k: v for k, v in run_tasks(fleet).items() if v} == expected
    rows = {r["target_id"]: r for r in fleet.ledger("fleet-13")}
    for target in expected:
        if target in failed:
            continue
        detail = json.loads(rows[target]["detail"])
        account, place, _ = target.split("/")
        assert detail["task_arn"].startswith(f"arn:aws:ecs:{place}:{account}:task/"), target
        assert detail["exit_codes"] == {"migrate": 0}
    ledger_row = rows[f"{A}/{AP}/prod-ledger"]
    assert int(ledger_row["attempts"]) >= 2
    assert json.loads(ledger_row["detail"])["resumed"] is True
    # AND one AssumeRole per account per function: the hub 3 (A, B, C), the spoke 2 (A, B; C is refused each time)
    assert assumed(fleet) == 5
    # each with the deployment's external id, 900 s (STS's shortest, no longer than a Lambda may run), and a
    # session name that names the run and a target
    assert len(asked) == 5 + 3  # and C refused, once per target
    assert {(a["external_id"], a["duration"]) for a in asked} == {(EXTERNAL_ID, 900)}
    assert all(a["role_session_name"].startswith("hubspoke@fleet-13@") for a in asked)


def test_a_new_cluster_is_a_target_of_the_next_run_without_any_setting(fleet: LocalEngine) -> None:
    assert (fleet.run(request("fleet-13-a", 50.0)).summary or {})["total"] == 10
    load_into_engine(
        fleet,
        World.model_validate(
            {
                "accounts": [
                    {"id": A, "target_role": False, "regions": [{"name": AP, "clusters": [{"name": "prod-queue"}]}]}
                ]
            }
        ),
    )
    second = fleet.run(request("fleet-13-b", 50.0))
    assert second.summary is not None
    assert (second.summary["total"], second.summary["succeeded"]) == (11, 7)
    # 4 of 11 failed (36 %), under the 50 % threshold: the run succeeds
    assert second.status == "SUCCEEDED"
    assert fleet.tasks.run_tasks(A, AP, "prod-queue") == 1


def test_the_same_run_id_again_starts_no_task_twice(fleet: LocalEngine) -> None:
    fleet.run(request("fleet-13-dup", 50.0))
    before = run_tasks(fleet)
    again = fleet.run(request("fleet-13-dup", 50.0), execution_name="fleet-13-dup-redelivered")
    assert run_tasks(fleet) == before
    assert sum(before.values()) == 7
    assert again.status in ("SUCCEEDED", "FAILED")


def test_no_assumed_credential_in_logs_history_ledger_reports_or_metrics(fleet: LocalEngine, tmp_path: Path) -> None:
    from moto.sts.models import sts_backends

    result = fleet.run(request("fleet-13-secrets", 50.0))
    history = json.dumps(fleet.history(result.execution_arn), default=str)
    ledger = json.dumps(fleet.ledger("fleet-13-secrets"))
    objects = "".join(
        fleet.s3.get_object(Bucket="hubspoke-local", Key=k)["Body"].read().decode() for k in fleet.objects("")
    )
    emf = json.dumps(result.emf)
    secrets = [
        value
        for account in (A, B, C)
        for role in sts_backends[account]["aws"].assumed_roles
        for value in (role.secret_access_key, role.session_token)
    ]
    logs = (tmp_path / "lambda.log").read_text()
    assert len(secrets) >= 4  # the scan looks at the credentials the run really got (hub and spoke, A and B)
    assert "spoke finished" in logs
    for secret in secrets:
        for name, text in (("logs", logs), ("history", history), ("ledger", ledger), ("s3", objects), ("emf", emf)):
            assert secret not in text, name


def demo_part_four() -> list[str]:
    """The arguments of `make demo`'s cross-account run, as the Makefile holds them."""
    import shlex

    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    start = makefile.index("$(BIN)/hubspoke local run --world examples/fleet-accounts.json")
    end = makefile.index("demo-accounts.json", start) + len("demo-accounts.json")
    args = shlex.split(makefile[start:end].replace("\\\n", " "))
    assert args[:3] == ["$(BIN)/hubspoke", "local", "run"]
    return args[3:]


def test_make_demos_cross_account_run_ends_as_the_readme_says(cli: Any, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(Path(__file__).parents[2] / "examples", tmp_path / "examples")
    (tmp_path / ".hubspoke").mkdir()
    result = cli(*demo_part_four())
    assert result.exit_code == 0, result.output  # 2 of 6 failed: 33 % is under the demo's 40 % threshold
    summary = json.loads((tmp_path / ".hubspoke" / "demo-accounts.json").read_text())
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (6, 4, 2)
    assert sorted((t["id"], t["error"]) for t in summary["failed_targets"]) == [
        ("310987654321/eu-west-1/prod-catalog", "TargetError"),
        ("410987654321/eu-west-1/prod-legacy", "CredentialsError"),
    ]
