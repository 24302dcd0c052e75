"""github-file-sync and github-org end to end: the local engine against the local GitHub-compatible server.

Real HTTP on loopback (the server in this process, the spokes calling it through gidgethub + urllib3), the
state machine on moto's interpreter, the token in moto's Secrets Manager. Clocks are scaled, never slept.
"""

from __future__ import annotations

import itertools
import json
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.github import GitHubServer, RepoSpec, org_world
from hubspoke.alarms import evaluate_alarms
from hubspoke.engine import LocalEngine
from hubspoke.report import budget_waits
from hubspoke.synth import SynthesizedStack, project_context, synthesize_cached
from stacks.alarms import alarm_specs
from stacks.settings import Settings

pytestmark = pytest.mark.e2e
SCALE = 0.01
PARAMS: dict[str, Any] = {
    "files": [
        {"path": ".github/CODEOWNERS", "content": "* @acme/platform\n"},
        {"path": "SECURITY.md", "content": "# Security\n\nReport to security@acme.example\n"},
    ],
    "branch": "hubspoke/platform-files",
    "title": "Add CODEOWNERS and SECURITY.md",
    "body": "Opened by HubSpoke for every repository of acme.",
    "labels": ["platform"],
}
ORG = {"type": "github-org", "org": "acme"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="session")
def github_port() -> int:
    """One port for the session's servers, so the stack (whose settings name the URL) is synthesized once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def github_overrides(url: str) -> dict[str, Any]:
    """The settings override `hubspoke local run --github-url` makes (same dict, same synth cache entry)."""
    return {"github": {**project_context()["hubspoke"]["github"], "api_url": url}}


@pytest.fixture(scope="session")
def github_stack(synth_cache: Path, github_port: int) -> SynthesizedStack:
    return synthesize_cached(synth_cache, github_overrides(f"http://127.0.0.1:{github_port}"))


@pytest.fixture
def github(github_port: int) -> Iterator[Callable[..., GitHubServer]]:
    """Start a fresh server (fresh repositories) on the session's port."""
    started: list[GitHubServer] = []

    def start(repos: list[RepoSpec], **options: Any) -> GitHubServer:
        server = GitHubServer(repos, port=github_port, time_scale=SCALE, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def token() -> str:
    return f"ghp_{uuid.uuid4().hex}"


def sync_request(run_id: str, source: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "operation": "github-file-sync", "params": PARAMS, "source": source or ORG, **extra}


def pull_creations(server: GitHubServer) -> Counter[str | None]:
    return Counter(
        r.repo for r in server.requests if r.method == "POST" and r.path.endswith("/pulls") and r.status == 201
    )


def test_75_repositories_5_protected_then_a_rerun_opens_no_duplicates(cli, github, tmp_path):
    # GIVEN an organization of 75 repositories, 5 of them with rules protecting every branch
    server = github(org_world("acme", 75, protected=5))
    protected = {s.full_name for s in org_world("acme", 75, protected=5) if s.protected}
    args = ["--operation", "github-file-sync", "--params-json", json.dumps(PARAMS), "--source-json",
            json.dumps(ORG), "--github-url", server.url]  # fmt: skip
    # WHEN the CLI runs the file sync on the local engine
    first = cli(*args, "--run-id", "sync-1", "--summary-json", "first.json")
    # THEN 70 pull requests are opened, the 5 protected repositories fail with a cause a person understands
    assert first.exit_code == 1, first.output
    summary = json.loads((tmp_path / "first.json").read_text())
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["outcome"]) == (75, 70, 5, "failed")
    assert summary["peak_concurrency"] == 2  # github.max_concurrency: GitHub asks for serial mutations
    assert summary["failures_by_error"] == {"ProtectedBranchError": 5}
    assert {f["id"] for f in summary["failed_targets"]} == protected
    for failure in summary["failed_targets"]:
        assert failure["cause"].startswith("protected branch: creating branch hubspoke/platform-files:")
        assert failure["attempts"] == 1  # a target error is not retried
    opened = [p for p in summary["pull_requests"] if p["pull_request"] == "opened"]
    assert len(opened) == 70
    assert all(p["url"].startswith(f"{server.url}/acme/repo-") for p in opened)
    assert pull_creations(server) == Counter({name: 1 for name in server.repo_names() if name not in protected})
    some = opened[0]["repository"]
    assert server.file(some, PARAMS["branch"], "SECURITY.md") == PARAMS["files"][1]["content"]
    assert [label["name"] for label in server.pulls(some)[0]["labels"]] == ["platform"]
    writes_before = sum(r.method in WRITES for r in server.requests)

    # WHEN the same sync runs again
    second = cli(*args, "--run-id", "sync-2", "--summary-json", "second.json")
    # THEN nothing is written: every pull request is found and reused, no second one anywhere
    assert second.exit_code == 1, second.output
    again = json.loads((tmp_path / "second.json").read_text())
    assert (again["unchanged"], again["succeeded"], again["failed"]) == (70, 0, 5)
    assert Counter(p["pull_request"] for p in again["pull_requests"]) == Counter({"reused": 70, None: 5})
    assert pull_creations(server) == Counter({name: 1 for name in server.repo_names() if name not in protected})
    protected_writes = 5  # each protected repository is asked once more for its branch, and refuses again
    assert sum(r.method in WRITES for r in server.requests) == writes_before + protected_writes


def test_secondary_limits_on_a_fifth_of_writes_still_open_every_pull_request_once(github_stack, github, tmp_path):
    # GIVEN 200 repositories and a server answering 20 % of writes with a secondary limit (retry-after: 1)
    server = github(org_world("acme", 200), secondary_share=0.2, retry_after_seconds=1, seed=7)
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "lambda.log", github_token="t") as engine:
        # WHEN the file sync runs over all of them, 10 at a time
        result = engine.run(sync_request("secondary", max_concurrency=10))
        rows = engine.ledger("secondary")
    # THEN every repository got its pull request, exactly once
    summary = result.summary
    assert summary is not None
    assert (summary["total"], summary["succeeded"], summary["failed"], summary["lost"]) == (200, 200, 0, 0)
    assert pull_creations(server) == Counter(dict.fromkeys(server.repo_names(), 1))
    assert all(len(server.pulls(name)) == 1 for name in server.repo_names())
    # AND the limits really happened, were waited out, and no spoke needed more attempts than the policy has
    limited = [r for r in server.requests if r.status == 403]
    writes = [r for r in server.requests if r.method in WRITES]
    assert 0.15 < len(limited) / len(writes) < 0.25
    rate_limit_policy = project_context()["hubspoke"]["retry"]["rate_limit"]
    assert max(int(row["attempts"]) for row in rows) <= 1 + rate_limit_policy["max_attempts"]


def test_gate_waits_for_the_reset_before_any_spoke_starts(github_stack, github, tmp_path):
    # GIVEN 5 repositories (2 files and a label each: 14 requests per repository at most) and only 9 requests
    # left, resetting in 300 s, when the gate first reads the budget: set at that moment, so however long this
    # machine takes to get there (the server's clock runs scaled, in real time), the reset is still ahead
    server = github(org_world("acme", 5), rate_limit=1000)
    window: dict[str, int] = {}

    def spend_at_the_gate() -> None:
        server.configure(rate_remaining=9, reset_in_seconds=300)
        window.update(server.rate_limit_state())

    server.before("GET", "/rate_limit", spend_at_the_gate)
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "lambda.log", github_token="t") as engine:
        # WHEN the sync runs
        result = engine.run(sync_request("gated", max_concurrency=5))
        history = engine.history(result.execution_arn)
    reset_at = window["reset"]
    assert result.summary is not None
    assert result.summary["succeeded"] == 5
    # THEN the gate read the budget, the state machine waited until the reset, then read it again
    waits = [
        e
        for e in history
        if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForBudget"
    ]
    assert len(waits) == 1
    wave = json.loads(waits[0]["stateEnteredEventDetails"]["input"])["wave"]
    assert wave["budget"]["remaining"] == 9
    assert wave["budget"]["needed"] == 5 * 14
    assert 1 <= wave["wait_seconds"] <= 302  # until the reset (on the server's clock) plus a second
    checks = [r for r in server.requests if r.path == "/rate_limit"]
    assert len(checks) == 2
    assert checks[0].at < reset_at <= checks[1].at
    # AND no repository was touched before the reset: every spoke request came after it
    repo_requests = [r for r in server.requests if r.repo is not None]
    assert len(repo_requests) >= 5 * 7
    assert min(r.at for r in repo_requests) >= reset_at
    # AND the CLI's summary reports the wait from the same history
    (reported,) = budget_waits(history)
    assert reported["wave"] == 1  # the first wave, counted from 1 as the console prints it
    assert reported["reason"].startswith("9 requests left, the wave needs 70: wait ")
    # AND the Map started only after the wait
    order = [e["type"] for e in history]
    assert order.index("WaitStateExited") < order.index("MapRunStarted")


def test_the_token_never_leaves_secrets_manager(github_stack, github, tmp_path, token):
    # GIVEN a server that accepts only this token, and a run with a success, a failure and retried limits
    server = github(org_world("acme", 6, protected=1), token=token, secondary_share=0.3, retry_after_seconds=1)
    log = tmp_path / "lambda.log"
    with LocalEngine(github_stack, time_scale=SCALE, log_path=log, github_token=token) as engine:
        result = engine.run(sync_request("token-scan", max_concurrency=3))
        history = json.dumps(engine.history(result.execution_arn), default=str)
        ledger = json.dumps(engine.ledger("token-scan"))
        objects = "".join(
            engine.s3.get_object(Bucket="hubspoke-local", Key=k)["Body"].read().decode() for k in engine.objects("")
        )
        emf = json.dumps(result.emf)
    # THEN the token was used (the server refuses anything else) ...
    assert result.summary is not None
    assert (result.summary["succeeded"], result.summary["failed"]) == (5, 1)
    # ... and appears nowhere: logs, execution history (every state's input and output), ledger, S3, metrics
    logs = log.read_text()
    assert "spoke finished" in logs
    assert any(r.status == 403 for r in server.requests)  # the scan covers retried attempts too
    for name, text in (("logs", logs), ("history", history), ("ledger", ledger), ("s3", objects), ("emf", emf)):
        assert token not in text, name
        assert token[4:] not in text, name


def test_a_rejected_token_is_bad_input_naming_the_source(github_stack, github, tmp_path, token):
    github(org_world("acme", 3), token=token)
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="wrong") as engine:
        result = engine.run(sync_request("bad-token"))
    assert result.error == "InvalidRunRequest"
    assert "source: listing the repositories of acme: the GitHub token was rejected (Bad credentials, 401)" in (
        result.cause or ""
    )


def test_an_unknown_organization_is_bad_input(github_stack, github, tmp_path):
    github(org_world("acme", 3))
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="t") as engine:
        result = engine.run(sync_request("no-org", {"type": "github-org", "org": "nobody"}))
    assert result.error == "InvalidRunRequest"
    assert "source.org: no org 'nobody' visible to the token" in (result.cause or "")


def test_target_errors_are_recorded_with_their_causes_and_not_retried(github_stack, github, tmp_path):
    # GIVEN a static list: a good repository, an archived one, one the token cannot push to, one that is gone,
    # one that already has the files, one with an outdated copy on a default branch called trunk
    server = github(
        [
            RepoSpec("acme/good"),
            RepoSpec("acme/old", archived=True),
            RepoSpec("acme/readonly", can_push=False),
            RepoSpec("acme/same", files=({f["path"]: f["content"] for f in PARAMS["files"]})),
            RepoSpec("acme/stale", default_branch="trunk", files={"SECURITY.md": "old text\n"}),
        ]
    )
    names = ("acme/good", "acme/old", "acme/readonly", "acme/gone", "acme/same", "acme/stale")
    targets = [{"id": name} for name in names]
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="t") as engine:
        result = engine.run(sync_request("errors", {"type": "static", "targets": targets}))
        rows = {r["target_id"]: r for r in engine.ledger("errors")}
    assert result.summary is not None
    assert result.summary["failures_by_error"] == {
        "ArchivedRepositoryError": 1,
        "PermissionDeniedError": 1,
        "TargetNotFoundError": 1,
    }
    assert rows["acme/good"]["status"] == "succeeded"
    # An existing file that differs is updated on the branch (with its blob sha); the PR targets the default branch.
    assert rows["acme/stale"]["status"] == "succeeded"
    assert server.file("acme/stale", PARAMS["branch"], "SECURITY.md") == PARAMS["files"][1]["content"]
    assert server.file("acme/stale", "trunk", "SECURITY.md") == "old text\n"
    (pull,) = server.pulls("acme/stale")
    assert (pull["base"]["ref"], pull["head"]["ref"], pull["title"]) == ("trunk", PARAMS["branch"], PARAMS["title"])
    # A repository that already has the files needs no pull request at all.
    assert rows["acme/same"]["status"] == "unchanged"
    causes = {f["id"]: f["cause"] for f in result.summary["failed_targets"]}
    assert "archived repository (read-only)" in causes["acme/old"]
    assert "the token cannot push to acme/readonly" in causes["acme/readonly"]
    assert "not found or not visible to the token: reading acme/gone" in causes["acme/gone"]
    assert all(f["attempts"] == 1 for f in result.summary["failed_targets"])


def test_waves_of_25_over_100_repositories_pause_between_waves(github_stack, github, tmp_path):
    server = github(org_world("acme", 100))
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="t") as engine:
        result = engine.run(sync_request("waves", max_concurrency=5, wave_size=25, wave_pause_seconds=30))
        history = engine.history(result.execution_arn)
    assert result.summary is not None
    assert result.summary["succeeded"] == 100
    assert result.summary["waves_run"] == 4
    names = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert names.count("CheckBudget") == 4  # the budget is checked before every wave
    assert names.count("WavePause") == 3
    # AND the waves did not overlap, with the 30 s pause (server clock, simulated) between them
    seen: dict[str, list[float]] = {}
    for r in server.requests:
        if r.repo is not None:
            seen.setdefault(r.repo, []).append(r.at)
    names = sorted(seen)  # the hub lists repositories in name order and cuts waves in that order
    waves = [names[i : i + 25] for i in range(0, 100, 25)]
    for earlier, later in itertools.pairwise(waves):
        gap = min(min(seen[n]) for n in later) - max(max(seen[n]) for n in earlier)
        assert gap >= 30, gap


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--github-url", "https://ghe.example.com/api/v3"], "GITHUB_TOKEN: set it to a GitHub token"),
        (["--github-url", "ftp://x"], "--github-url: an http(s) URL"),
        (["--source-json", "[1]"], '--source-json: a JSON object with a "type"'),
        (["--source-json", "{"], "--source-json: not valid JSON"),
        (["--targets", "3"], "exactly one of --targets N, --targets-file PATH or --source-json JSON"),
    ],
)
def test_github_usage_errors_exit_2_before_anything_runs(cli, monkeypatch, args, message):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    source = [] if "--source-json" in args else ["--source-json", json.dumps(ORG)]
    result = cli("--operation", "github-file-sync", "--params-json", json.dumps(PARAMS), *source, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_a_flaky_discovery_is_retried_without_paging(github_stack, github, tmp_path):
    # GIVEN GitHub answering the hub's listing with a 502 once
    server = github(org_world("acme", 3))
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="t") as engine:
        server.configure(server_errors=1)
        result = engine.run(sync_request("hub-retry"))
        history = engine.history(result.execution_arn)
    # THEN the hub's TransientError was retried by the state machine (30 s later) and the run went on
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["TransientError"]
    assert "listing the repositories of acme: Server Error (502)" in failed[0]["cause"]
    assert result.summary is not None
    assert result.summary["succeeded"] == 3
    # AND nothing pages: a retried hub attempt is not a failed hub
    alarms = {a.name: a.state for a in evaluate_alarms(alarm_specs(Settings().monitoring), result)}
    assert (alarms["HubFailed"], alarms["ExecutionsFailed"]) == ("OK", "OK")


def test_a_primary_limit_spent_mid_wave_is_waited_out_until_the_reset(github_stack, github, tmp_path):
    # GIVEN a token allowed 30 requests per 200 s (simulated) and 5 repositories that need about 60
    server = github(org_world("acme", 5), rate_limit=30, rate_window_seconds=200)
    # ... and spent for certain in the middle of the second repository, however fast this machine spends it
    spent = "/repos/acme/repo-002/contents/SECURITY.md"
    server.before("PUT", spent, lambda: server.configure(rate_remaining=0, reset_in_seconds=100))
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="t") as engine:
        # A window that starts with the run, not with the server: the engine's start-up must not eat into it
        server.configure(rate_remaining=30, reset_in_seconds=200)
        result = engine.run(sync_request("primary", max_concurrency=1))
        rows = engine.ledger("primary")
        history = engine.history(result.execution_arn)
    # THEN every repository got its pull request, once, though the budget ran out in the middle of the wave
    assert result.summary is not None
    assert (result.summary["succeeded"], result.summary["failed"]) == (5, 0)
    assert pull_creations(server) == Counter(dict.fromkeys(server.repo_names(), 1))
    refused = [r for r in server.requests if r.status == 403]
    assert any(r.path == spent for r in refused)
    # AND the spoke that hit the limit waited until the reset GitHub named, then went on (in the spoke when the
    # reset was seconds away, else in the WaitForRateLimit state: where the budget ran out in the window depends
    # on this machine's speed, so the test holds for both; moto keeps a Map child's states out of the history)
    counted = [r for r in server.requests if r.path != "/rate_limit"]
    for refusal, following in itertools.pairwise(counted):
        if refusal.status == 403:
            assert following.at >= refusal.reset, (refusal, following)
    assert all(row["status"] == "succeeded" for row in rows)
    # AND the gate did not idle the first window away: no window holds the wave (70 > 30), so waiting for the
    # reset could not help; the wave went at once and used what was left of the window
    checks = [e for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "CheckBudget"]
    gate_waits = [e for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "WaitForBudget"]
    assert (len(checks), gate_waits) == (1, [])
    # AND once GitHub said the limit was spent and when it resets, nothing more was sent before that reset
    # (GitHub: "do not retry until after the reset"): a refusal is never followed by another refusal
    assert requests_into_a_spent_limit(server) == 0


def requests_into_a_spent_limit(server: GitHubServer) -> int:
    """Requests refused by a primary limit the client already knew was spent (GET /rate_limit costs nothing)."""
    counted = [r for r in server.requests if r.path != "/rate_limit"]
    return sum(a.status == 403 and b.status == 403 for a, b in itertools.pairwise(counted))


def test_a_run_started_with_the_budget_spent_waits_for_the_reset_at_discovery(github_stack, github, tmp_path):
    # GIVEN a token whose budget is spent, resetting in 600 s (simulated), and an organization of 3 repositories
    # (spent when the hub's listing arrives, so this machine's speed cannot let the reset pass first)
    server = github(org_world("acme", 3))
    server.before("GET", "/orgs/acme/repos", lambda: server.configure(rate_remaining=0, reset_in_seconds=600))
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="t") as engine:
        # WHEN a run starts
        result = engine.run(sync_request("spent-at-start"))
        history = engine.history(result.execution_arn)
    listings = [r for r in server.requests if r.path == "/orgs/acme/repos"]
    reset_at = listings[0].reset
    # THEN the hub's refusal was waited out in a Wait state until the reset, and the run went on to every target
    assert result.summary is not None
    assert (result.summary["total"], result.summary["succeeded"], result.summary["failed"]) == (3, 3, 0)
    waits = [
        json.loads(e["stateEnteredEventDetails"]["input"])["discovery"]
        for e in history
        if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForDiscoveryBudget"
    ]
    assert len(waits) == 1
    # until the reset, seen from the refusal's Date header (whole seconds on the server's clock), plus a second
    assert waits[0]["seconds"] == reset_at - int(listings[0].at) + 1
    # AND nothing was sent into the spent limit: one refused listing, then the next one after the reset
    assert [r.status for r in listings] == [403, 200]
    assert listings[1].at >= reset_at
    assert requests_into_a_spent_limit(server) == 0


def test_a_pull_request_opened_by_an_earlier_attempt_counts_as_opened(github_stack, github, tmp_path):
    # GIVEN one repository, and a budget spent (resetting in 600 s) just when the first attempt, having opened
    # the pull request, asks for its label
    server = github([RepoSpec("acme/one")])
    label = "/repos/acme/one/issues/1/labels"
    server.before("POST", label, lambda: server.configure(rate_remaining=0, reset_in_seconds=600))
    static = {"type": "static", "targets": [{"id": "acme/one"}]}
    with LocalEngine(github_stack, time_scale=SCALE, log_path=tmp_path / "l.log", github_token="t") as engine:
        result = engine.run(sync_request("label-limited", static))
        (row,) = engine.ledger("label-limited")
    assert [r.status for r in server.requests if r.path == label] == [403, 200]
    # THEN the run reports what it did: it opened that pull request (in its first attempt), it reused none
    assert result.summary is not None
    assert (result.summary["succeeded"], result.summary["failed"]) == (1, 0)
    assert json.loads(row["detail"])["pull_request"] == "opened"  # what the CLI counts
    assert pull_creations(server) == Counter({"acme/one": 1})


def test_the_github_server_command_serves_on_loopback_until_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import urllib3

    url_file = tmp_path / "url"
    command = [sys.executable, "-m", "devtools.github", "serve", "--repos", "3", "--protected", "1",
               "--url-file", str(url_file)]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # its announcement reaches us as soon as it listens
    root = Path(__file__).resolve().parents[2]  # devtools/ is a top-level package of the checkout, not installed
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
    try:
        assert server.stdout is not None
        announcement = server.stdout.readline()  # blocks until the server listens (or exits)
        assert announcement.startswith("GitHub-compatible server on http://127.0.0.1:"), server.stderr
        url = url_file.read_text().strip()  # written before the announcement
        assert f"on {url} (3 repositories)" in announcement
        answer = urllib3.request("GET", f"{url}/orgs/acme/repos")
        assert answer.status == 200
        assert [r["full_name"] for r in answer.json()] == ["acme/repo-001", "acme/repo-002", "acme/repo-003"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0
