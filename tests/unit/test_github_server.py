"""The local GitHub-compatible server, over real HTTP on 127.0.0.1 (urllib3, no mocks)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import itertools
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import urllib3
from typer.testing import CliRunner

from hubspoke.cli_github import build_server, github_server, serve, token_from_env
from hubspoke.github_server import GitHubServer, ManualClock, RecordedRequest, RepoSpec, load_world, org_world

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=5))
RULES_CREATE = "Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n"
RULES_UPDATE = "Repository rule violations found\n\nChanges must be made through a pull request.\n\n"


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def call(
    gh: GitHubServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: str | None = None,
    raw: bytes | None = None,
) -> urllib3.BaseHTTPResponse:
    headers = {"Accept": "application/vnd.github+json"}
    if auth is not None:
        headers["Authorization"] = auth
    if raw is not None:
        return HTTP.request(method, gh.url + path, body=raw, headers=headers)
    return HTTP.request(method, gh.url + path, json=body, headers=headers)


def links(response: urllib3.BaseHTTPResponse) -> dict[str, str]:
    header = response.headers.get("link")
    if not header:
        return {}
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


@pytest.fixture
def make_server() -> Iterator[Callable[..., GitHubServer]]:
    started: list[GitHubServer] = []

    def make(repos: Any = (), **options: Any) -> GitHubServer:
        gh = GitHubServer(repos, **options).start()
        started.append(gh)
        return gh

    yield make
    for gh in started:
        gh.stop()


@pytest.fixture
def gh(make_server: Callable[..., GitHubServer]) -> GitHubServer:
    specs = [
        *org_world("acme", 3),
        RepoSpec("acme/archived", archived=True),
        RepoSpec("acme/readonly", can_push=False),
        RepoSpec("acme/rules", protected=["release/*", "main"], files={"a.txt": "a\n"}),
        RepoSpec("other/tool", default_branch="trunk", private=True, fork=True, topics=["python", "cli"]),
    ]
    return make_server(specs)


def head_sha(gh: GitHubServer, repo: str, branch: str) -> str:
    r = call(gh, "GET", f"/repos/{repo}/git/ref/heads/{branch}")
    assert r.status == 200
    return str(r.json()["object"]["sha"])


def new_branch(gh: GitHubServer, repo: str, branch: str, source: str = "main") -> urllib3.BaseHTTPResponse:
    return call(
        gh, "POST", f"/repos/{repo}/git/refs", {"ref": f"refs/heads/{branch}", "sha": head_sha(gh, repo, source)}
    )


def assert_error(response: urllib3.BaseHTTPResponse, status: int, message: str) -> dict[str, Any]:
    assert response.status == status
    body: dict[str, Any] = response.json()
    assert body["message"] == message
    assert body["documentation_url"] == "https://docs.github.com/rest"
    assert body["status"] == str(status)
    return body


# ---- listing and reading ---------------------------------------------------------------------------------------


def test_org_repos_paginate_with_link_headers(make_server):
    gh = make_server(org_world("acme", 75))
    url, pages = f"{gh.url}/orgs/acme/repos?per_page=30", []
    while url:
        r = HTTP.request("GET", url)
        assert r.status == 200
        pages.append((r.json(), links(r)))
        url = links(r).get("next")
    assert [len(page) for page, _ in pages] == [30, 30, 15]
    names = [repo["full_name"] for page, _ in pages for repo in page]
    assert names == [f"acme/repo-{i:03d}" for i in range(1, 76)]
    first, middle, last = (rels for _, rels in pages)
    assert set(first) == {"next", "last"}
    assert first["last"] == f"{gh.url}/orgs/acme/repos?per_page=30&page=3"
    assert set(middle) == {"prev", "next", "last", "first"}
    assert middle["prev"].endswith("page=1")
    assert middle["first"].endswith("page=1")
    assert set(last) == {"prev", "first"}


def test_repo_listing_limits_and_owners(make_server):
    gh = make_server([*org_world("acme", 120), RepoSpec("someone/dotfiles")])
    r = call(gh, "GET", "/orgs/acme/repos?per_page=500&type=all&sort=full_name")
    assert len(r.json()) == 100  # per_page is capped at 100, as on GitHub
    assert links(r)["last"].endswith("page=2")
    assert "type=all" in links(r)["next"]
    r = call(gh, "GET", "/orgs/acme/repos")
    assert len(r.json()) == 30  # the default page size
    r = call(gh, "GET", "/users/someone/repos")
    assert [repo["full_name"] for repo in r.json()] == ["someone/dotfiles"]
    assert "link" not in r.headers  # one page: no Link header
    assert_error(call(gh, "GET", "/orgs/nobody/repos"), 404, "Not Found")


def test_repo_json_fields(gh):
    r = call(gh, "GET", "/repos/other/tool")
    assert r.status == 200
    repo = r.json()
    assert repo["name"] == "tool"
    assert repo["full_name"] == "other/tool"
    assert repo["owner"]["login"] == "other"
    assert (repo["private"], repo["fork"], repo["archived"], repo["disabled"]) == (True, True, False, False)
    assert repo["default_branch"] == "trunk"
    assert repo["topics"] == ["python", "cli"]
    assert repo["visibility"] == "private"
    assert repo["url"] == f"{gh.url}/repos/other/tool"
    assert repo["html_url"] == f"{gh.url}/other/tool"
    assert repo["permissions"] == {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True}
    assert isinstance(repo["id"], int)
    assert repo["node_id"]
    assert call(gh, "GET", "/repos/acme/readonly").json()["permissions"]["push"] is False
    assert call(gh, "GET", "/repos/acme/archived").json()["archived"] is True
    # Ids depend only on the name, so they survive restarts.
    with GitHubServer([RepoSpec("other/tool")]) as again:
        assert call(again, "GET", "/repos/other/tool").json()["id"] == repo["id"]
    assert_error(call(gh, "GET", "/repos/other/missing"), 404, "Not Found")


def test_every_response_has_githubs_headers(gh):
    for r in (call(gh, "GET", "/repos/acme/repo-001"), call(gh, "GET", "/no/such/path")):
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used"):
            assert r.headers[name].isdigit()
        assert r.headers["x-ratelimit-resource"] == "core"
        assert r.headers["x-github-request-id"]
        date = email.utils.parsedate_to_datetime(r.headers["date"]).timestamp()
        assert abs(date - gh.now()) < 5


# ---- branches and contents -------------------------------------------------------------------------------------


def test_branch_and_contents_round_trip(gh):
    repo = "acme/repo-001"
    main = head_sha(gh, repo, "main")
    assert re.fullmatch(r"[0-9a-f]{40}", main)
    created = new_branch(gh, repo, "hubspoke/bump")
    assert created.status == 201
    assert created.json()["ref"] == "refs/heads/hubspoke/bump"
    assert created.json()["object"] == {
        "sha": main,
        "type": "commit",
        "url": f"{gh.url}/repos/{repo}/git/commits/{main}",
    }
    branch = call(gh, "GET", f"/repos/{repo}/branches/hubspoke/bump").json()
    assert branch == {
        "name": "hubspoke/bump",
        "commit": {"sha": main, "url": branch["commit"]["url"]},
        "protected": False,
    }

    text = "x = 1\n" * 30  # long enough for several base64 lines
    put = call(
        gh,
        "PUT",
        f"/repos/{repo}/contents/src/app.py",
        {"message": "add", "content": b64(text), "branch": "hubspoke/bump"},
    )
    assert put.status == 201
    assert put.json()["content"]["sha"] == git_blob_sha(text.encode())
    assert put.json()["content"]["path"] == "src/app.py"
    assert put.json()["content"]["name"] == "app.py"
    assert put.json()["commit"]["message"] == "add"
    first_commit = put.json()["commit"]["sha"]
    assert first_commit != main
    assert head_sha(gh, repo, "hubspoke/bump") == first_commit

    got = call(gh, "GET", f"/repos/{repo}/contents/src/app.py?ref=hubspoke/bump").json()
    assert (got["type"], got["encoding"], got["size"]) == ("file", "base64", len(text))
    lines = got["content"].split("\n")
    assert all(len(line) == 60 for line in lines[:-2])
    assert lines[-1] == ""
    assert base64.b64decode(got["content"]).decode() == text
    assert got["sha"] == git_blob_sha(text.encode())

    update = call(
        gh,
        "PUT",
        f"/repos/{repo}/contents/src/app.py",
        {"message": "bump", "content": b64("x = 2\n"), "branch": "hubspoke/bump", "sha": got["sha"]},
    )
    assert update.status == 200
    assert update.json()["commit"]["parents"][0]["sha"] == first_commit
    assert gh.file(repo, "hubspoke/bump", "src/app.py") == "x = 2\n"
    assert gh.file(repo, "main", "src/app.py") is None  # the default branch is untouched
    assert gh.file(repo, "main", "README.md") == "# repo-001\n"
    assert gh.branches(repo) == {"main": main, "hubspoke/bump": update.json()["commit"]["sha"]}
    assert_error(call(gh, "GET", f"/repos/{repo}/contents/src/app.py"), 404, "Not Found")
    assert_error(call(gh, "GET", f"/repos/{repo}/contents/README.md?ref=nope"), 404, "Not Found")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_blob_sha_matches_git_hash_object(gh):
    data = "héllo\nworld\n".encode()
    expected = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True)
    put = call(
        gh, "PUT", "/repos/acme/repo-002/contents/h.txt", {"message": "m", "content": base64.b64encode(data).decode()}
    )
    assert put.json()["content"]["sha"] == expected.stdout.decode().strip()


def test_ref_creation_errors(gh):
    repo = "acme/repo-001"
    main = head_sha(gh, repo, "main")
    assert_error(
        call(gh, "POST", f"/repos/{repo}/git/refs", {"ref": "refs/heads/main", "sha": main}),
        422,
        "Reference already exists",
    )
    r = call(gh, "POST", f"/repos/{repo}/git/refs", {"ref": "refs/heads/x", "sha": "0" * 40})
    assert_error(r, 422, "Object does not exist")
    assert_error(call(gh, "POST", f"/repos/{repo}/git/refs", {"ref": "refs/heads/x"}), 422, "Invalid request.")
    assert_error(call(gh, "POST", f"/repos/{repo}/git/refs", {"ref": "heads/x", "sha": main}), 422, "Invalid request.")
    assert_error(call(gh, "GET", f"/repos/{repo}/git/ref/heads/x"), 404, "Not Found")
    assert set(gh.branches(repo)) == {"main"}


def test_put_contents_requires_the_current_sha(gh):
    repo, path = "acme/repo-001", "/repos/acme/repo-001/contents/README.md"
    old_sha = git_blob_sha(b"# repo-001\n")
    r = call(gh, "PUT", path, {"message": "m", "content": b64("new\n")})
    assert_error(r, 422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    assert call(gh, "PUT", path, {"message": "m", "content": b64("new\n"), "sha": old_sha}).status == 200
    stale = call(gh, "PUT", path, {"message": "m", "content": b64("newer\n"), "sha": old_sha})
    assert_error(stale, 409, f"README.md does not match {old_sha}")
    assert gh.file(repo, "main", "README.md") == "new\n"
    missing = call(gh, "PUT", path, {"message": "m", "content": b64("x"), "branch": "nope", "sha": old_sha})
    assert_error(missing, 404, "Branch nope not found")
    assert_error(call(gh, "PUT", path, {"content": b64("x")}), 422, "Invalid request.")
    assert_error(call(gh, "PUT", path, {"message": "m", "content": "%%% not base64"}), 422, "Invalid request.")


def test_protected_patterns_block_ref_creation_and_direct_writes(gh):
    repo = "acme/rules"
    assert_error(new_branch(gh, repo, "release/1.0"), 422, RULES_CREATE)
    assert new_branch(gh, repo, "feature").status == 201
    assert call(gh, "GET", f"/repos/{repo}/branches/main").json()["protected"] is True
    put = call(
        gh, "PUT", f"/repos/{repo}/contents/a.txt", {"message": "m", "content": b64("b\n"), "sha": git_blob_sha(b"a\n")}
    )
    assert_error(put, 409, RULES_UPDATE)
    assert gh.file(repo, "main", "a.txt") == "a\n"
    ok = call(
        gh,
        "PUT",
        f"/repos/{repo}/contents/a.txt",
        {"message": "m", "content": b64("b\n"), "sha": git_blob_sha(b"a\n"), "branch": "feature"},
    )
    assert ok.status == 200


def test_every_branch_protected(make_server):
    gh = make_server(org_world("acme", 4, protected=1))
    protected = [
        name for name in gh.repo_names() if call(gh, "GET", f"/repos/{name}/branches/main").json()["protected"]
    ]
    assert len(protected) == 1
    assert_error(new_branch(gh, protected[0], "anything"), 422, RULES_CREATE)


@pytest.mark.parametrize(
    ("repo", "message"),
    [
        ("acme/archived", "Repository was archived so is read-only."),
        ("acme/readonly", "Resource not accessible by personal access token"),
    ],
)
def test_read_only_repositories_answer_403(gh, repo, message):
    assert call(gh, "GET", f"/repos/{repo}/contents/README.md").status == 404  # reads work (there is no README)
    assert_error(new_branch(gh, repo, "x"), 403, message)
    assert_error(call(gh, "PUT", f"/repos/{repo}/contents/f", {"message": "m", "content": b64("x")}), 403, message)
    assert_error(call(gh, "POST", f"/repos/{repo}/pulls", {"title": "t", "head": "x", "base": "main"}), 403, message)
    assert gh.branches(repo) == {"main": head_sha(gh, repo, "main")}


# ---- pull requests ---------------------------------------------------------------------------------------------


def test_pull_requests(gh):
    repo = "acme/repo-001"
    assert new_branch(gh, repo, "bump").status == 201
    put = call(gh, "PUT", f"/repos/{repo}/contents/v.txt", {"message": "m", "content": b64("2\n"), "branch": "bump"})
    assert put.status == 201
    r = call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Bump", "head": "bump", "base": "main", "body": "why"})
    assert r.status == 201
    pr = r.json()
    assert (pr["number"], pr["state"], pr["title"], pr["body"], pr["draft"]) == (1, "open", "Bump", "why", False)
    assert pr["html_url"] == f"{gh.url}/{repo}/pull/1"
    assert pr["url"] == f"{gh.url}/repos/{repo}/pulls/1"
    assert pr["head"] == {"ref": "bump", "sha": put.json()["commit"]["sha"], "label": "acme:bump"}
    assert pr["base"] == {"ref": "main", "sha": head_sha(gh, repo, "main"), "label": "acme:main"}
    assert pr["labels"] == []

    dup = call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Again", "head": "acme:bump", "base": "main"})
    body = assert_error(dup, 422, "Validation Failed")
    assert body["errors"] == [
        {"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for acme:bump."}
    ]
    assert new_branch(gh, repo, "empty").status == 201
    body = assert_error(
        call(gh, "POST", f"/repos/{repo}/pulls", {"title": "t", "head": "empty", "base": "main"}),
        422,
        "Validation Failed",
    )
    assert body["errors"] == [
        {"resource": "PullRequest", "code": "custom", "message": "No commits between main and empty"}
    ]
    body = assert_error(
        call(gh, "POST", f"/repos/{repo}/pulls", {"title": "t", "head": "ghost", "base": "main"}),
        422,
        "Validation Failed",
    )
    assert body["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
    body = assert_error(
        call(gh, "POST", f"/repos/{repo}/pulls", {"title": "t", "head": "bump", "base": "ghost"}),
        422,
        "Validation Failed",
    )
    assert body["errors"] == [{"resource": "PullRequest", "field": "base", "code": "invalid"}]
    assert_error(call(gh, "POST", f"/repos/{repo}/pulls", {"head": "bump", "base": "main"}), 422, "Invalid request.")

    listed = call(gh, "GET", f"/repos/{repo}/pulls?head=acme:bump&state=open").json()
    assert [p["number"] for p in listed] == [1]
    assert call(gh, "GET", f"/repos/{repo}/pulls?head=acme:empty").json() == []
    assert call(gh, "GET", f"/repos/{repo}/pulls?state=closed").json() == []
    assert [p["number"] for p in call(gh, "GET", f"/repos/{repo}/pulls?state=all&base=main").json()] == [1]
    assert call(gh, "GET", f"/repos/{repo}/pulls/1").json()["title"] == "Bump"
    assert_error(call(gh, "GET", f"/repos/{repo}/pulls/9"), 404, "Not Found")

    labels = call(gh, "POST", f"/repos/{repo}/issues/1/labels", {"labels": ["deps", "automated"]})
    assert labels.status == 200
    assert [(label["name"], label["color"]) for label in labels.json()] == [("deps", "ededed"), ("automated", "ededed")]
    assert all(isinstance(label["id"], int) for label in labels.json())
    again = call(gh, "POST", f"/repos/{repo}/issues/1/labels", {"labels": ["deps", "more"]}).json()
    assert [label["name"] for label in again] == ["deps", "automated", "more"]
    assert [label["name"] for label in call(gh, "GET", f"/repos/{repo}/pulls/1").json()["labels"]] == [
        "deps",
        "automated",
        "more",
    ]
    assert_error(call(gh, "POST", f"/repos/{repo}/issues/7/labels", {"labels": ["x"]}), 404, "Not Found")

    assert [p["number"] for p in gh.pulls(repo)] == [1]
    assert gh.pulls(repo)[0]["labels"][0]["name"] == "deps"
    assert gh.pulls_created(repo) == 1
    assert gh.pulls_created("acme/repo-002") == 0
    gh.stop()
    assert gh.pulls(repo)[0]["url"] == pr["url"]  # the helpers still work after stop()


MSG_MODIFIED = "Head branch was modified. Review and try the merge again."


def test_a_squash_merge_keeps_the_branch_and_a_new_pull_request_from_it_has_commits_but_no_diff(gh):
    # GIVEN a pull request adding v.txt from branch "bump"
    repo = "acme/repo-001"
    assert new_branch(gh, repo, "bump").status == 201
    call(gh, "PUT", f"/repos/{repo}/contents/v.txt", {"message": "m", "content": b64("2\n"), "branch": "bump"})
    call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Bump", "head": "bump", "base": "main"})
    assert_error(call(gh, "PUT", f"/repos/{repo}/pulls/1/merge", {"merge_method": "fast"}), 422, "Validation Failed")
    assert_error(call(gh, "PUT", f"/repos/{repo}/pulls/1/merge", {"sha": "0" * 40}), 409, MSG_MODIFIED)
    # WHEN it is squash-merged
    merged = call(gh, "PUT", f"/repos/{repo}/pulls/1/merge", {"merge_method": "squash"})
    # THEN main has the file in one new commit, the pull request is closed and merged, the branch is still there
    assert merged.status == 200
    assert merged.json() == {
        "sha": head_sha(gh, repo, "main"),
        "merged": True,
        "message": "Pull Request successfully merged",
    }
    assert gh.file(repo, "main", "v.txt") == "2\n"
    pull = call(gh, "GET", f"/repos/{repo}/pulls/1").json()
    assert (pull["state"], pull["merged"], pull["merge_commit_sha"]) == ("closed", True, merged.json()["sha"])
    assert "bump" in gh.branches(repo)
    assert call(gh, "GET", f"/repos/{repo}/pulls?head=acme:bump&state=open").json() == []
    assert_error(call(gh, "PUT", f"/repos/{repo}/pulls/1/merge", {}), 405, "Pull Request is not mergeable")
    # AND, as on GitHub, the branch's own commit is not on main, so a new pull request from it opens, diff or not
    again = call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Bump", "head": "bump", "base": "main"})
    assert again.status == 201
    assert gh.file(repo, "bump", "v.txt") == gh.file(repo, "main", "v.txt")


# ---- rate limits ---------------------------------------------------------------------------------------------


def test_primary_rate_limit_exhausts_then_resets_on_the_simulated_clock(make_server):
    clock = ManualClock()  # time moves only when the test says so: no roll-over mid-test, however slow the machine
    gh = make_server(org_world("acme", 2), rate_limit=10, clock=clock)
    gh.configure(rate_remaining=2, reset_in_seconds=600)
    assert call(gh, "GET", "/repos/acme/repo-001").headers["x-ratelimit-remaining"] == "1"
    assert call(gh, "GET", "/repos/acme/repo-001").headers["x-ratelimit-remaining"] == "0"
    reset = gh.rate_limit_state()["reset"]

    blocked = call(gh, "PUT", "/repos/acme/repo-001/contents/f.txt", {"message": "m", "content": b64("x")})
    assert blocked.status == 403
    assert blocked.json()["message"].startswith("API rate limit exceeded for user ID 1.")
    assert blocked.headers["x-ratelimit-remaining"] == "0"
    assert blocked.headers["x-ratelimit-used"] == "10"
    assert int(blocked.headers["x-ratelimit-reset"]) == reset
    assert gh.file("acme/repo-001", "main", "f.txt") is None  # the blocked write had no effect
    assert call(gh, "GET", "/rate_limit").json()["rate"]["remaining"] == 0

    gh.configure(reset_in_seconds=2)
    reset = gh.rate_limit_state()["reset"]
    clock.advance(1)
    assert call(gh, "GET", "/repos/acme/repo-001").status == 403  # a second before the reset: still spent
    # What a client does: wait until the reset time on the server's clock.
    clock.advance(1)
    ok = call(gh, "GET", "/repos/acme/repo-001")
    assert ok.status == 200
    assert ok.headers["x-ratelimit-remaining"] == "9"
    assert int(ok.headers["x-ratelimit-reset"]) == reset + 3600
    date = email.utils.parsedate_to_datetime(ok.headers["date"]).timestamp()
    assert date == reset  # the Date header runs on the server's clock too


def test_rate_limit_endpoint_does_not_count(gh):
    before = gh.rate_limit_state()
    r = call(gh, "GET", "/rate_limit")
    assert r.status == 200
    core = r.json()["resources"]["core"]
    assert core == {**before, "resource": "core"}
    assert r.json()["rate"] == core
    assert gh.rate_limit_state()["remaining"] == before["remaining"]
    call(gh, "GET", "/repos/acme/repo-001")
    assert gh.rate_limit_state()["remaining"] == before["remaining"] - 1
    assert gh.rate_limit_state()["used"] == before["used"] + 1


def test_secondary_limit_share_one_blocks_every_write(make_server):
    gh = make_server(org_world("acme", 1), secondary_share=1.0, retry_after_seconds=42)
    before = gh.rate_limit_state()["remaining"]
    r = new_branch(gh, "acme/repo-001", "x")
    assert r.status == 403
    assert r.headers["retry-after"] == "42"
    assert r.json()["message"].startswith("You have exceeded a secondary rate limit.")
    assert gh.branches("acme/repo-001").keys() == {"main"}  # no effect
    assert gh.rate_limit_state()["remaining"] == before - 2  # the read and the blocked write both count
    assert call(gh, "GET", "/repos/acme/repo-001").status == 200  # reads are never secondary-limited
    gh.configure(secondary_share=0.0)
    assert new_branch(gh, "acme/repo-001", "x").status == 201


def test_secondary_limit_share_is_seeded_and_deterministic(make_server):
    def statuses(seed: int) -> list[int]:
        gh = make_server(org_world("acme", 1), secondary_share=0.2, seed=seed)
        # Labels on a pull request that does not exist: 404 unless the secondary limit answers first.
        return [call(gh, "POST", "/repos/acme/repo-001/issues/1/labels", {"labels": ["x"]}).status for _ in range(200)]

    first, again, other = statuses(7), statuses(7), statuses(8)
    assert set(first) == {403, 404}
    assert 0.12 <= first.count(403) / len(first) <= 0.28
    assert first == again
    assert first != other


# ---- auth, errors, recording ---------------------------------------------------------------------------------


def test_token_is_required_when_set_and_never_recorded(make_server, capsys):
    token = "ghp_s3cret-local-token"
    gh = make_server(org_world("acme", 1), token=token)
    remaining = gh.rate_limit_state()["remaining"]
    assert_error(call(gh, "GET", "/repos/acme/repo-001"), 401, "Bad credentials")
    assert_error(call(gh, "GET", "/repos/acme/repo-001", auth="token wrong"), 401, "Bad credentials")
    assert_error(call(gh, "GET", "/rate_limit", auth=f"Basic {token}"), 401, "Bad credentials")
    assert gh.rate_limit_state()["remaining"] == remaining  # bad credentials are not charged to the token
    assert call(gh, "GET", "/repos/acme/repo-001", auth=f"token {token}").status == 200
    assert call(gh, "GET", "/repos/acme/repo-001", auth=f"Bearer {token}").status == 200
    assert [r.status for r in gh.requests] == [401, 401, 401, 200, 200]
    assert token not in repr(gh.requests)
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == ""


def test_any_token_is_accepted_without_one_configured(gh):
    assert call(gh, "GET", "/repos/acme/repo-001").status == 200
    assert call(gh, "GET", "/repos/acme/repo-001", auth="token whatever").status == 200


def test_unknown_paths_methods_and_bad_json(gh):
    assert_error(call(gh, "GET", "/nothing/here"), 404, "Not Found")
    assert_error(call(gh, "DELETE", "/repos/acme/repo-001"), 404, "Not Found")  # known path, unsupported method
    assert_error(call(gh, "GET", "/repos/acme/repo-001/git/refs"), 404, "Not Found")
    bad = call(gh, "POST", "/repos/acme/repo-001/pulls", raw=b"{not json")
    assert_error(bad, 400, "Problems parsing JSON")


def test_requests_are_recorded(gh):
    start = gh.now()
    call(gh, "GET", "/orgs/acme/repos?per_page=2&page=2")
    call(gh, "GET", "/repos/acme/repo-001/contents/README.md?ref=main")
    call(gh, "GET", "/repos/acme/missing")
    recorded = gh.requests
    assert recorded == [
        RecordedRequest("GET", "/orgs/acme/repos", {"per_page": "2", "page": "2"}, 200, None, recorded[0].at),
        RecordedRequest(
            "GET", "/repos/acme/repo-001/contents/README.md", {"ref": "main"}, 200, "acme/repo-001", recorded[1].at
        ),
        RecordedRequest("GET", "/repos/acme/missing", {}, 404, "acme/missing", recorded[2].at),
    ]
    assert start <= recorded[0].at <= recorded[1].at <= recorded[2].at <= gh.now()
    gh.requests.clear()  # a copy: clearing it changes nothing
    assert len(gh.requests) == 3


def test_many_concurrent_clients(make_server):
    gh = make_server(org_world("acme", 8))
    failures: list[str] = []

    def work(i: int) -> None:
        repo = f"acme/repo-{i + 1:03d}"
        pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=5))
        sha = pool.request("GET", f"{gh.url}/repos/{repo}/git/ref/heads/main").json()["object"]["sha"]
        for n in range(10):
            r = pool.request("POST", f"{gh.url}/repos/{repo}/git/refs", json={"ref": f"refs/heads/b{n}", "sha": sha})
            if r.status != 201:
                failures.append(f"{repo} b{n}: {r.status}")
            r = pool.request(
                "PUT",
                f"{gh.url}/repos/{repo}/contents/f{n}.txt",
                json={"message": "m", "content": b64(str(n)), "branch": f"b{n}"},
            )
            if r.status != 201:
                failures.append(f"{repo} f{n}: {r.status}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(gh.requests) == 8 * 21
    assert gh.rate_limit_state()["used"] == 8 * 21
    assert all(len(gh.branches(f"acme/repo-{i:03d}")) == 11 for i in range(1, 9))


# ---- worlds ----------------------------------------------------------------------------------------------------


def test_org_world_spreads_special_repositories_deterministically():
    world = org_world("acme", 75, protected=5, archived=3, forks=2, topics={"repo-001": ["go"], "acme/repo-002": ["x"]})
    assert [s.full_name for s in world] == [f"acme/repo-{i:03d}" for i in range(1, 76)]
    assert all(s.files == {"README.md": f"# {s.full_name.split('/')[1]}\n"} for s in world)
    protected = [i for i, s in enumerate(world) if s.protected == ["*"]]
    archived = [i for i, s in enumerate(world) if s.archived]
    forks = [i for i, s in enumerate(world) if s.fork]
    assert (len(protected), len(archived), len(forks)) == (5, 3, 2)
    assert not set(protected) & set(archived)
    assert not set(forks) & (set(protected) | set(archived))
    assert max(b - a for a, b in itertools.pairwise(protected)) <= 16  # spread, not bunched
    assert world == org_world(
        "acme", 75, protected=5, archived=3, forks=2, topics={"repo-001": ["go"], "acme/repo-002": ["x"]}
    )
    assert (world[0].topics, world[1].topics) == (["go"], ["x"])
    with pytest.raises(ValueError, match="exceeds count"):
        org_world("acme", 3, protected=2, archived=2)
    with pytest.raises(ValueError, match="topics"):
        org_world("acme", 3, topics={"repo-999": ["x"]})


def test_load_world(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(
        json.dumps(
            {
                "repos": [
                    {"full_name": "acme/api", "protected": ["main"], "files": {"go.mod": "module api\n"}},
                    {"full_name": "acme/web", "archived": True, "topics": ["js"], "can_push": False},
                ]
            }
        )
    )
    specs = load_world(path)
    assert specs == [
        RepoSpec("acme/api", protected=["main"], files={"go.mod": "module api\n"}),
        RepoSpec("acme/web", archived=True, topics=["js"], can_push=False),
    ]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('{"repos": [{"full_name": "acme/a", "archived": "yes"}]}', "repos[0].archived"),
        ('{"repos": [{"full_name": "acme/a"}, {"full_name": "acme/b", "colour": 1}]}', "repos[1].colour"),
        ('{"repos": [{"full_name": "acme/a", "files": ["x"]}]}', "repos[0].files"),
        ('{"repos": [{"full_name": "no-slash"}]}', "repos[0].full_name"),
        ('{"repos": [{"archived": true}]}', "repos[0].full_name"),
        ('{"repos": [{"full_name": "acme/a"}, {"full_name": "ACME/a"}]}', "repos[1].full_name"),
        ('{"repos": [{"full_name": "acme/a", "topics": [1]}]}', "repos[0].topics"),
        ('{"repositories": []}', "repos"),
        ("{not json", "not valid JSON"),
    ],
)
def test_load_world_names_the_bad_field(tmp_path, content, field):
    path = tmp_path / "world.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(field)):
        load_world(path)


# ---- the command -----------------------------------------------------------------------------------------------


def test_build_server_from_options(tmp_path):
    gh = build_server(org="corp", repos=12, protected=2, archived=1, secondary_share=0.5, time_scale=0.01)
    assert len(gh.repo_names()) == 12
    assert gh.repo_names()[0] == "corp/repo-001"
    world = tmp_path / "w.json"
    world.write_text('{"repos": [{"full_name": "x/y"}]}')
    assert build_server(world=world).repo_names() == ["x/y"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secondary_share": 1.5}, "--secondary-share"),
        ({"secondary_share": -0.1}, "--secondary-share"),
        ({"world": Path("/nonexistent/world.json")}, "--world: cannot read"),
        ({"repos": 3, "protected": 2, "forks": 2}, "--protected/--archived/--forks"),
        ({"rate_window": 0}, "--rate-window"),
        ({"port": 70000}, "--port"),
        ({"org": "bad org"}, "--org"),
    ],
)
def test_build_server_rejects_bad_options(capsys, options, message):
    with pytest.raises(typer.Exit) as exited:
        build_server(**options)
    assert exited.value.exit_code == 2
    assert message in capsys.readouterr().err


def test_build_server_rejects_a_bad_world_file(tmp_path, capsys):
    world = tmp_path / "w.json"
    world.write_text('{"repos": [{"full_name": "x/y", "private": 1}]}')
    with pytest.raises(typer.Exit):
        build_server(world=world)
    assert "--world: repos[0].private" in capsys.readouterr().err


def test_token_comes_from_the_environment(monkeypatch, capsys):
    assert token_from_env(None) is None
    monkeypatch.setenv("LOCAL_GH_TOKEN", "abc")
    assert token_from_env("LOCAL_GH_TOKEN") == "abc"
    monkeypatch.delenv("LOCAL_GH_TOKEN")
    with pytest.raises(typer.Exit):
        token_from_env("LOCAL_GH_TOKEN")
    assert "--token-env: environment variable LOCAL_GH_TOKEN" in capsys.readouterr().err


def test_serve_writes_the_url_file_announces_and_stops(tmp_path, capsys):
    gh = build_server(repos=4)
    url_file = tmp_path / "url"
    stop = threading.Event()
    stop.set()  # serve() starts, announces, sees the stop request at once and shuts down
    serve(gh, url_file, stop)
    url = url_file.read_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert f"GitHub-compatible server on {url} (4 repositories)" in capsys.readouterr().out
    with pytest.raises(urllib3.exceptions.HTTPError):
        HTTP.request("GET", f"{url}/rate_limit")  # stopped: nothing listens any more


def test_command_rejects_bad_options_before_serving(monkeypatch):
    app = typer.Typer()
    app.command()(github_server)
    runner = CliRunner()
    result = runner.invoke(app, ["--secondary-share", "1.5"])
    assert result.exit_code == 2
    assert "--secondary-share" in result.output
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    result = runner.invoke(app, ["--token-env", "NO_SUCH_TOKEN_VAR"])
    assert result.exit_code == 2
    assert "--token-env" in result.output


def test_latency_runs_on_the_simulated_clock(make_server):
    gh = make_server(org_world("acme", 1), latency_ms=2000, clock=ManualClock())  # 2 s on the server's clock
    call(gh, "GET", "/repos/acme/repo-001")
    call(gh, "GET", "/repos/acme/repo-001")
    first, second = gh.requests
    assert second.at - first.at == 2.0
    gh.configure(latency_ms=0)
    assert call(gh, "GET", "/repos/acme/repo-001").status == 200


def test_extras_clients_rely_on(gh):
    assert new_branch(gh, "acme/repo-001", "team/a").status == 201
    # Names are case-insensitive and branch names may arrive percent-encoded.
    assert call(gh, "GET", "/repos/ACME/Repo-001/git/ref/heads/team%2Fa").json()["ref"] == "refs/heads/team/a"
    # The older refs/ endpoint: an exact ref, or every ref with the prefix.
    assert call(gh, "GET", "/repos/acme/repo-001/git/refs/heads/main").json()["ref"] == "refs/heads/main"
    assert [r["ref"] for r in call(gh, "GET", "/repos/acme/repo-001/git/refs/heads/team").json()] == [
        "refs/heads/team/a"
    ]
    assert [b["name"] for b in call(gh, "GET", "/repos/acme/repo-001/branches").json()] == ["main", "team/a"]
    put = call(
        gh, "PUT", "/repos/acme/repo-001/contents/docs/a.md", {"message": "m", "content": b64("a"), "branch": "team/a"}
    )
    assert put.status == 201
    listing = call(gh, "GET", "/repos/acme/repo-001/contents?ref=team/a").json()
    assert [(e["type"], e["path"]) for e in listing] == [("file", "README.md"), ("dir", "docs")]
    assert call(gh, "GET", "/user").json()["login"]


def test_a_hook_runs_once_just_before_the_matching_request_and_may_call_the_server(make_server):
    gh = make_server(org_world("acme", 1), clock=ManualClock())
    seen: list[int] = []
    gh.before("GET", "/repos/acme/repo-001", lambda: seen.append(call(gh, "GET", "/rate_limit").status))
    gh.before("GET", "/repos/acme/repo-001", lambda: gh.configure(rate_remaining=0, reset_in_seconds=60))
    assert call(gh, "GET", "/orgs/acme/repos").status == 200  # another path: the hooks wait
    refused = call(gh, "GET", "/repos/acme/repo-001")
    assert (seen, refused.status) == ([200], 403)
    recorded = gh.requests[-1]
    assert recorded.reset == int(refused.headers["x-ratelimit-reset"]) == 1_800_000_060
    gh.configure(rate_remaining=10)
    assert call(gh, "GET", "/repos/acme/repo-001").status == 200  # each hook ran once
    assert seen == [200]
