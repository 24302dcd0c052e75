"""The GitHub client against the local GitHub-compatible server (real HTTP on loopback), and its token on moto."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Iterator

import boto3
import pytest
import urllib3
from moto import mock_aws

import shared.github
from devtools.github import GitHubServer, ManualClock, RepoSpec
from shared.config import GitHubEnv
from shared.errors import CredentialsError, RateLimitResetError, TransientError
from shared.github import INLINE_RETRIES, GitHub, attempt, rate_budget, token


def github_env(url: str, inline_max: int = 10) -> GitHubEnv:
    return GitHubEnv.model_validate(
        {
            "GITHUB_API_URL": url,
            "GITHUB_TOKEN_SECRET": "hubspoke/github-token",
            "GITHUB_INLINE_RETRY_AFTER_MAX": str(inline_max),
            "GITHUB_REQUEST_TIMEOUT": "20",
        }
    )


def client(server: GitHubServer, inline_max: int = 10) -> GitHub:
    """A client whose waits advance the server's manual clock: time passes only when the client sleeps."""
    return GitHub(
        "t", server.url, inline_retry_after_max_seconds=inline_max, request_timeout_seconds=5, sleep=server.clock.sleep
    )


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    # A manual clock: how fast this machine runs (or how busy it is) cannot move a reset or a retry-after.
    with GitHubServer([RepoSpec("acme/a")], clock=ManualClock()) as srv:
        yield srv


def create_ref(server: GitHubServer, inline_max: int = 10) -> None:
    gh = client(server, inline_max)
    body = {"ref": "refs/heads/x", "sha": server.branches("acme/a")["main"]}
    asyncio.run(attempt("creating branch x", gh.post("/repos/acme/a/git/refs", data=body)))


def test_a_short_secondary_limit_is_waited_out_in_the_spoke(server):
    # GIVEN a server refusing every write with a secondary limit, retry-after: 2
    server.configure(secondary_share=1.0, retry_after_seconds=2)
    with pytest.raises(
        RateLimitResetError, match=r"^retry after 2 s: creating branch x: secondary rate limit \(403\)$"
    ):
        create_ref(server)
    writes = [r for r in server.requests if r.method == "POST"]
    # THEN the spoke tried 1 + INLINE_RETRIES times, 2 s apart, then handed over to Step Functions
    assert [r.status for r in writes] == [403] * (1 + INLINE_RETRIES)
    assert [b.at - a.at for a, b in itertools.pairwise(writes)] == [2.0] * INLINE_RETRIES


def test_a_long_secondary_limit_goes_to_step_functions_at_once(server):
    server.configure(secondary_share=1.0, retry_after_seconds=60)
    with pytest.raises(RateLimitResetError, match="retry after 60 s"):
        create_ref(server, inline_max=10)
    assert sum(r.method == "POST" for r in server.requests) == 1  # no waiting in Lambda for a minute


def test_an_exhausted_primary_limit_is_a_rate_limit_error_naming_the_reset(server):
    server.configure(rate_remaining=0, reset_in_seconds=600)
    # 600 s to the reset on the server's clock, plus a second: exactly, since no time passes in between
    with pytest.raises(RateLimitResetError, match=r"^retry after 601 s: .*primary rate limit exhausted, resets at 20"):
        create_ref(server)
    assert len(server.requests) == 1  # ten minutes is for Step Functions to wait, not the spoke


def test_a_primary_limit_resetting_in_a_moment_is_waited_out_in_the_spoke(server):
    server.configure(rate_remaining=0, reset_in_seconds=3)
    reset = server.rate_limit_state()["reset"]
    create_ref(server)
    refused, created = server.requests
    assert (refused.status, created.status) == (403, 201)
    assert created.at - refused.at == 4  # waited until the reset plus a second, and sent nothing meanwhile
    assert created.at >= reset


def test_rate_budget_reads_core_on_the_servers_clock(server, monkeypatch):
    server.configure(rate_remaining=42, reset_in_seconds=300)
    monkeypatch.setattr(shared.github, "token", lambda name: "t")
    budget = rate_budget(github_env(server.url))
    assert (budget.remaining, budget.limit) == (42, 5000)
    assert budget.reset_in_seconds == 300  # reset minus the server's Date, on the server's clock
    assert [r.path for r in server.requests] == ["/rate_limit"]


def test_an_unreachable_server_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    gh = GitHub("t", f"http://127.0.0.1:{port}", request_timeout_seconds=5)
    with pytest.raises(TransientError, match="GitHub unreachable"):
        asyncio.run(attempt("reading acme/a", gh.getitem("/repos/acme/a")))


@mock_aws
def test_the_token_comes_from_secrets_manager_and_errors_never_quote_it():
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    with pytest.raises(CredentialsError, match="cannot read the GitHub token from Secrets Manager secret 'gh'"):
        token("gh")
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name="gh", SecretString="  ghp_sekret\n")
    parameters.clear_caches()
    assert token("gh") == "ghp_sekret"
    client.create_secret(Name="empty", SecretString=" ")
    with pytest.raises(CredentialsError, match="holds no token") as err:
        token("empty")
    assert "ghp_" not in str(err.value)


def test_a_file_changed_since_it_was_read_is_transient(server):
    from spoke.operations.github_file_sync import FileSpec
    from spoke.operations.github_pull_request import _put_file

    server.add_repo(RepoSpec("acme/b", files={"a.txt": "now\n"}))
    stale = (b"then\n", "0" * 40)  # what an earlier read saw
    gh = client(server)
    spec = FileSpec(path="a.txt", content="new\n")
    with pytest.raises(TransientError, match=r"writing a.txt on main: the file changed since it was read"):
        asyncio.run(_put_file(gh, {"owner": "acme", "repo": "b"}, spec, "main", "m", stale))
    with pytest.raises(TransientError, match="the file changed since it was read"):
        asyncio.run(_put_file(gh, {"owner": "acme", "repo": "b"}, spec, "main", "m", (None, None)))
    assert server.file("acme/b", "main", "a.txt") == "now\n"


def test_a_resync_after_a_squash_merge_is_unchanged_and_opens_no_pull_request(server):
    from spoke.operations.github_file_sync import Params
    from spoke.operations.github_pull_request import sync

    # GIVEN a sync that opened its pull request, squash-merged on GitHub, which keeps the sync branch
    params = Params(files=[{"path": "SECURITY.md", "content": "# Security\n"}], branch="hubspoke/sec", title="Add")
    first = asyncio.run(sync(client(server), params, "acme/a", "run-1"))
    assert (first.status, first.detail["pull_request"]) == ("succeeded", "opened")
    server.merge("acme/a", 1, "squash")  # as a person does on GitHub (the product never merges)
    assert "hubspoke/sec" in server.branches("acme/a")
    # WHEN the same sync runs again
    before = len(server.requests)
    again = asyncio.run(sync(client(server), params, "acme/a", "run-2"))
    # THEN every file is identical on the base: unchanged, nothing written, no pull request without a diff opened
    assert again.status == "unchanged"
    assert again.detail["reason"] == "files already on main"
    assert [r.method for r in server.requests[before:] if r.method != "GET"] == []
    assert server.pulls_created("acme/a") == 1


def test_a_pull_request_a_concurrent_writer_opened_first_is_reused_not_opened(server):
    from spoke.operations.github_file_sync import Params
    from spoke.operations.github_pull_request import sync

    params = Params(files=[{"path": "SECURITY.md", "content": "# Security\n"}], branch="hubspoke/sec", title="Add")
    # GIVEN another writer that opens the pull request just before ours arrives (ours then gets 422 "already exists")
    theirs = {"title": "Add", "head": "hubspoke/sec", "base": "main", "body": "by someone else"}
    server.before(
        "POST", "/repos/acme/a/pulls", lambda: urllib3.request("POST", f"{server.url}/repos/acme/a/pulls", json=theirs)
    )
    # WHEN the sync runs
    result = asyncio.run(sync(client(server), params, "acme/a", "run-1"))
    # THEN it took theirs over: reused, not opened, and exactly one pull request exists
    assert [r.status for r in server.requests if r.method == "POST" and r.path.endswith("/pulls")] == [201, 422]
    assert result.detail["pull_request"] == "reused"
    assert result.detail["pr_number"] == 1
    assert len(server.pulls("acme/a")) == 1


def test_a_pull_request_an_earlier_attempt_of_this_run_opened_is_opened_not_reused(server):
    from spoke.operations.github_file_sync import Params
    from spoke.operations.github_pull_request import sync

    # GIVEN a first attempt that opened the pull request and was then refused its label by a spent limit
    params = Params(files=[{"path": "a.txt", "content": "a\n"}], branch="hubspoke/a", title="A", labels=["platform"])
    server.before("POST", "/repos/acme/a/issues/1/labels", lambda: server.configure(rate_remaining=0))
    with pytest.raises(RateLimitResetError):
        asyncio.run(sync(client(server, inline_max=0), params, "acme/a", "run-1"))
    server.configure(rate_remaining=5000)
    # WHEN the target's next attempt in the same run finds that pull request
    again = asyncio.run(sync(client(server), params, "acme/a", "run-1"))
    # THEN this run opened it: `opened`, labelled now, and still one pull request
    assert (again.status, again.detail["pull_request"]) == ("succeeded", "opened")
    assert [label["name"] for label in server.pulls("acme/a")[0]["labels"]] == ["platform"]
    assert server.pulls_created("acme/a") == 1
    # AND a later run that finds it reuses it
    later = asyncio.run(sync(client(server), params, "acme/a", "run-2"))
    assert (later.status, later.detail["pull_request"]) == ("unchanged", "reused")
