"""k8s-apply end to end on the embedded engine, as the README's "Try it locally" runs it: `hubspoke local run
--world examples/eks-apply-world.json` serving the world's 10 EKS clusters from the local Kubernetes API, the
eks-clusters source finding them in 2 accounts x 2 regions, a ConfigMap and a NetworkPolicy applied by the spokes
with EKS tokens signed under each account's HubSpoke role.

The README's commands run in-process (the CLI's own code, the engine, the Kubernetes double); the double the CLI
started is kept by the test (its __enter__ recorded) so that what each cluster holds afterwards can be read.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from devtools.kubernetes import KubernetesServer
from hubspoke.cli import app
from tests.e2e.test_readme_commands import readme_block

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
A, B = "410500600700", "520600700800"
EU, US = "eu-central-1", "us-west-2"
# Written from the world file's requirement: 10 clusters; 8 reachable without a conflict.
CLUSTERS = {
    f"{A}/{EU}/web-1", f"{A}/{EU}/web-2", f"{A}/{EU}/web-3", f"{A}/{US}/web-4", f"{A}/{US}/helm-managed",
    f"{B}/{EU}/data-1", f"{B}/{EU}/data-2", f"{B}/{EU}/data-3", f"{B}/{US}/data-4", f"{B}/{US}/no-access-entry",
}  # fmt: skip
HELM = f"{A}/{US}/helm-managed"
NO_ENTRY = f"{B}/{US}/no-access-entry"
APPLIED = CLUSTERS - {HELM, NO_ENTRY}


@pytest.fixture
def hubspoke(tmp_path: Path, synth_cache: Path, stack: object, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run a README command in-process from a folder holding the examples; returns the exit code, the output and
    the Kubernetes double that command served the world's clusters from."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    home = tmp_path / ".hubspoke"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    monkeypatch.setenv("HUBSPOKE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    servers: list[KubernetesServer] = []
    enter = KubernetesServer.__enter__

    def entered(self: KubernetesServer) -> KubernetesServer:
        servers.append(self)
        return enter(self)

    monkeypatch.setattr(KubernetesServer, "__enter__", entered)

    def run(command: str, *extra: str) -> tuple[int, str, KubernetesServer]:
        args = shlex.split(command)
        assert args[:3] == [".venv/bin/hubspoke", "local", "run"]
        done = CliRunner().invoke(app, [*args[1:], "--quiet", *extra])
        (server,) = servers[-1:]
        return done.exit_code, done.output, server

    run.home = home  # type: ignore[attr-defined]
    return run


def counts(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    return summary["total"], summary["succeeded"], summary["unchanged"], summary["failed"]


def failures(summary: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {t["id"]: (t["error"], t["cause"]) for t in summary["failed_targets"]}


def cluster(server: KubernetesServer, place: str) -> Any:
    account, region, name = place.split("/")
    return server.clusters[(account, region, name)]


def writes(server: KubernetesServer, name: str) -> list[str]:
    """The PATCHes that were not a dry run and that the cluster took (the double's request log)."""
    return [r.path for r in server.requests if r.cluster == name and r.method == "PATCH" and not r.dry_run
            and r.status < 300]  # fmt: skip


def test_apply_to_ten_clusters_then_the_rerun_changes_nothing(hubspoke: Any, tmp_path: Path) -> None:
    _, apply = readme_block("### Kubernetes (EKS)")
    code, output, server = hubspoke(apply, "--summary-json", "apply.json", "--run-id", "apply")
    # THEN exit 1 (2 of 10 failed, threshold 0 %), the world seen as 10 EKS clusters
    assert code == 1, output
    assert "10 EKS clusters" in " ".join(output.split())
    first, second = json.loads((tmp_path / "apply.json").read_text())
    # The first run: 10 targets, 8 succeeded, 2 failed
    assert (first["run_id"], counts(first)) == ("apply", (10, 8, 0, 2))
    assert first["notes"]["eks_clusters"]["selected"] == 10
    failed = failures(first)
    assert set(failed) == {HELM, NO_ENTRY}
    assert failed[NO_ENTRY][0] == "CredentialsError"
    assert failed[HELM][0] == "FieldConflictError"
    assert '.data.mode: conflict with "helm"' in failed[HELM][1]
    # The rerun in the same world: the 8 unchanged, the same 2 failed
    assert (second["run_id"], counts(second)) == ("apply-2", (10, 0, 8, 2))
    assert set(failures(second)) == {HELM, NO_ENTRY}
    # The kept ledger: each of the 8 created both objects in the first run, and changed nothing in the second
    ledger = {r["target_id"]: r for r in json.loads((hubspoke.home / "runs" / "apply" / "ledger.json").read_text())}
    assert set(ledger) == CLUSTERS
    assert {t for t, r in ledger.items() if r["status"] == "succeeded"} == APPLIED
    for target in APPLIED:
        changed = [(c["kind"], c["name"], c["created"]) for c in json.loads(ledger[target]["detail"])["changed"]]
        assert changed == [("ConfigMap", "platform-settings", True), ("NetworkPolicy", "default-deny-ingress", True)]
    rerun = json.loads((hubspoke.home / "runs" / "apply-2" / "ledger.json").read_text())
    assert sorted(r["status"] for r in rerun) == ["failed"] * 2 + ["unchanged"] * 8
    assert all(json.loads(r["detail"])["changed"] == [] for r in rerun if r["status"] == "unchanged")
    # Nothing was written in the conflicting cluster: Helm's value and only Helm's ownership, no NetworkPolicy
    helm = cluster(server, HELM)
    assert writes(server, "helm-managed") == []
    config = server.get(helm, "v1", "ConfigMap", "kube-system", "platform-settings")
    assert config is not None
    assert config["data"] == {"mode": "permissive"}
    assert [m["manager"] for m in config["metadata"]["managedFields"]] == ["helm"]
    assert server.get(helm, "networking.k8s.io/v1", "NetworkPolicy", "default", "default-deny-ingress") is None
    # and the cluster without an access entry was never let in
    assert [r.status for r in server.requests if r.cluster == "no-access-entry"] == [401] * len(
        [r for r in server.requests if r.cluster == "no-access-entry"]
    )
    # The 8 hold the applied objects, owned by hubspoke, each written once (2 objects, first run only)
    for place in APPLIED:
        sim = cluster(server, place)
        config = server.get(sim, "v1", "ConfigMap", "kube-system", "platform-settings")
        assert config is not None
        assert config["data"] == {"mode": "strict", "owner": "platform-team"}
        assert [m["manager"] for m in config["metadata"]["managedFields"]] == ["hubspoke"]
        assert len(writes(server, sim.name)) == 2


def test_dry_run_records_the_diff_and_writes_nothing(hubspoke: Any, tmp_path: Path) -> None:
    dry, _ = readme_block("### Kubernetes (EKS)")
    code, output, server = hubspoke(dry, "--summary-json", "dry.json", "--run-id", "dry")
    assert code == 1, output
    summary = json.loads((tmp_path / "dry.json").read_text())
    # THEN the 10 targets: 8 would change, the 2 fail as the apply would (the conflict is the dry run's own answer)
    assert counts(summary) == (10, 8, 0, 2)
    failed = failures(summary)
    assert (failed[NO_ENTRY][0], failed[HELM][0]) == ("CredentialsError", "FieldConflictError")
    ledger = {r["target_id"]: r for r in json.loads((hubspoke.home / "runs" / "dry" / "ledger.json").read_text())}
    for target in APPLIED:
        detail = json.loads(ledger[target]["detail"])  # kept as DynamoDB holds it: a JSON string
        assert detail["dry_run"] is True
        would = [(c["kind"], c["created"]) for c in detail["would_change"]]
        assert would == [("ConfigMap", True), ("NetworkPolicy", True)]
        # the diff, each field as `path: old -> new` (docs/kubernetes.md): the manifests' values, from nothing
        assert [c["changes"] for c in detail["would_change"]] == [
            [".data.mode: None -> 'strict'", ".data.owner: None -> 'platform-team'"],
            [".spec.podSelector: None -> {}", ".spec.policyTypes: None -> ['Ingress']"],
        ]
        assert "changed" not in detail
    # Nothing written anywhere: every PATCH was a server-side dry run, and no cluster holds the objects
    assert [r.path for r in server.requests if r.method == "PATCH" and not r.dry_run] == []
    for place in APPLIED:
        sim = cluster(server, place)
        assert server.get(sim, "v1", "ConfigMap", "kube-system", "platform-settings") is None
        assert server.get(sim, "networking.k8s.io/v1", "NetworkPolicy", "default", "default-deny-ingress") is None


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--repeat", "2", "--dry-run"], "--repeat: a --dry-run runs nothing to repeat"),
        (["--repeat", "2", "--run-id", "r" * 78], "--run-id: at most 77 characters with --repeat"),
    ],
)
def test_repeat_refuses_what_it_cannot_do(hubspoke: Any, extra: list[str], said: str) -> None:
    _, apply = readme_block("### Kubernetes (EKS)")
    done = CliRunner().invoke(app, [*shlex.split(apply)[1:], *extra])
    assert done.exit_code == 2
    assert said in " ".join(done.output.split())


def test_params_from_a_missing_file_are_bad_input(hubspoke: Any) -> None:
    done = CliRunner().invoke(app, ["local", "run", "--targets", "1", "--params-json", "@examples/nope.json"])
    assert done.exit_code == 2
    assert "--params-json: cannot read examples/nope.json" in " ".join(done.output.split())


def test_without_devtools_a_world_with_eks_clusters_is_bad_input(
    hubspoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An installed wheel has no devtools/: the world's EKS clusters cannot be served, said before anything starts
    monkeypatch.setitem(sys.modules, "devtools.kubernetes", None)
    _, apply = readme_block("### Kubernetes (EKS)")
    done = CliRunner().invoke(app, shlex.split(apply)[1:])
    assert done.exit_code == 2
    assert "EKS clusters need the local Kubernetes API (devtools/, in a checkout)" in " ".join(done.output.split())
