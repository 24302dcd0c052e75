"""The local GitHub double's fidelity to GitHub's REST API as the product uses it, over real HTTP on loopback.

Only what the product relies on: the endpoints it calls (and no others), the status codes and messages it
matches (lambdas/spoke/operations/github_pull_request.py), the rate-limit headers and Retry-After its client
reads (lambdas/shared/github.py), the Link pagination gidgethub follows, and the fields it parses.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uritemplate
import urllib3

from devtools.github import GitHubServer, ManualClock, RepoSpec, org_world
from devtools.github.routes import ROUTES

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=5))
RULES_CREATE = "Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n"
RULES_UPDATE = "Repository rule violations found\n\nChanges must be made through a pull request.\n\n"


def git_blob_sha(data: bytes) -> str:
    """What `git hash-object` prints."""
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def call(
    gh: GitHubServer, method: str, path: str, body: Any = None, *, auth: str | None = None, raw: bytes | None = None
):
    headers = {"Accept": "application/vnd.github+json", **({"Authorization": auth} if auth else {})}
    if raw is not None:
        return HTTP.request(method, gh.url + path, body=raw, headers=headers)
    return HTTP.request(method, gh.url + path, json=body, headers=headers)


def links(response: urllib3.BaseHTTPResponse) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", ""))}


def assert_error(response: urllib3.BaseHTTPResponse, status: int, message: str) -> dict[str, Any]:
    assert response.status == status
    body: dict[str, Any] = response.json()
    assert (body["message"], body["documentation_url"], body["status"]) == (
        message,
        "https://docs.github.com/rest",
        str(status),
    )
    return body


@pytest.fixture
def make_server() -> Iterator[Callable[..., GitHubServer]]:
    started: list[GitHubServer] = []

    def make(repos: Any = (), **options: Any) -> GitHubServer:
        started.append(GitHubServer(repos, **options).start())
        return started[-1]

    yield make
    for gh in started:
        gh.stop()


@pytest.fixture
def gh(make_server: Callable[..., GitHubServer]) -> GitHubServer:
    return make_server(
        [
            *org_world("acme", 2),
            RepoSpec("acme/archived", archived=True),
            RepoSpec("acme/readonly", can_push=False),
            RepoSpec("acme/rules", protected=["release/*", "main"], files={"a.txt": "a\n"}),
            RepoSpec("other/tool", default_branch="trunk", fork=True, topics=["python", "cli"], files={"d/x": "x"}),
        ]
    )


def head_sha(gh: GitHubServer, repo: str, branch: str) -> str:
    r = call(gh, "GET", f"/repos/{repo}/git/ref/heads/{branch}")
    assert r.status == 200
    return str(r.json()["object"]["sha"])


def new_branch(gh: GitHubServer, repo: str, branch: str, source: str = "main") -> urllib3.BaseHTTPResponse:
    body = {"ref": f"refs/heads/{branch}", "sha": head_sha(gh, repo, source)}
    response: urllib3.BaseHTTPResponse = call(gh, "POST", f"/repos/{repo}/git/refs", body)
    return response


# ---- what the hub's github-org source reads ------------------------------------------------------------------


def test_repository_listing_paginates_with_the_link_header_gidgethub_follows(make_server):
    gh = make_server([*org_world("acme", 120), RepoSpec("someone/dotfiles")])
    url: str | None = f"{gh.url}/orgs/acme/repos?type=all&per_page=500"
    pages = []
    while url:
        r = HTTP.request("GET", url)
        assert r.status == 200
        pages.append(r)
        url = links(r).get("next")
    assert [len(page.json()) for page in pages] == [100, 20]  # per_page is capped at 100, as on GitHub
    assert [repo["full_name"] for page in pages for repo in page.json()] == [
        f"acme/repo-{i:03d}" for i in range(1, 121)
    ]
    assert links(pages[0]) == {
        "next": f"{gh.url}/orgs/acme/repos?type=all&per_page=100&page=2",
        "last": f"{gh.url}/orgs/acme/repos?type=all&per_page=100&page=2",
    }
    assert set(links(pages[1])) == {"prev", "first"}
    one = call(gh, "GET", "/users/someone/repos")
    assert [repo["full_name"] for repo in one.json()] == ["someone/dotfiles"]
    assert "link" not in one.headers  # one page: no Link header
    assert_error(call(gh, "GET", "/orgs/nobody/repos"), 404, "Not Found")


def test_repository_json_has_the_fields_discovery_and_the_spoke_read(gh):
    repo = call(gh, "GET", "/repos/other/tool").json()
    assert (repo["name"], repo["full_name"], repo["default_branch"]) == ("tool", "other/tool", "trunk")
    assert (repo["archived"], repo["fork"], repo["topics"]) == (False, True, ["python", "cli"])
    listed = {r["full_name"]: r for r in call(gh, "GET", "/orgs/acme/repos").json()}
    assert listed["acme/archived"]["archived"] is True
    assert listed["acme/readonly"]["permissions"]["push"] is False
    assert_error(call(gh, "GET", "/repos/other/missing"), 404, "Not Found")


# ---- headers on every answer ----------------------------------------------------------------------------------


def test_every_answer_carries_the_rate_limit_headers_and_a_date_on_the_simulated_clock(make_server):
    gh = make_server(org_world("acme", 1), rate_limit=10, clock=ManualClock(1_800_000_000.0))
    for r in (call(gh, "GET", "/repos/acme/repo-001"), call(gh, "GET", "/no/such/path")):
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        assert r.headers["x-ratelimit-limit"] == "10"
        assert r.headers["x-ratelimit-reset"] == str(1_800_000_000 + 3600)
        assert r.headers["x-ratelimit-resource"] == "core"
        assert email.utils.parsedate_to_datetime(r.headers["date"]).timestamp() == 1_800_000_000.0
    assert (r.headers["x-ratelimit-remaining"], r.headers["x-ratelimit-used"]) == ("8", "2")  # a 404 counts too


# ---- what the spoke's file sync reads and writes ----------------------------------------------------------------


def test_refs_and_contents_answer_the_shapes_and_shas_the_sync_compares(gh):
    repo = "acme/repo-001"
    main = head_sha(gh, repo, "main")
    created = new_branch(gh, repo, "hubspoke/bump")
    assert created.status == 201
    assert created.json()["object"]["sha"] == main
    assert created.headers["location"] == f"{gh.url}/repos/{repo}/git/refs/heads/hubspoke/bump"
    read = call(gh, "GET", f"/repos/{repo}/contents/README.md?ref=hubspoke/bump").json()
    assert (read["type"], read["encoding"], read["sha"]) == ("file", "base64", git_blob_sha(b"# repo-001\n"))
    assert base64.b64decode(read["content"]) == b"# repo-001\n"
    path = f"/repos/{repo}/contents/docs/NEW.md"
    put = call(gh, "PUT", path, {"message": "m", "content": b64("new\n"), "branch": "hubspoke/bump"})
    assert (put.status, put.json()["content"]["sha"]) == (201, git_blob_sha(b"new\n"))
    body = {"message": "m", "content": b64("newer\n"), "branch": "hubspoke/bump", "sha": git_blob_sha(b"new\n")}
    assert call(gh, "PUT", path, body).status == 200  # an update answers 200, a creation 201
    assert gh.file(repo, "hubspoke/bump", "docs/NEW.md") == "newer\n"
    assert gh.file(repo, "main", "docs/NEW.md") is None
    assert_error(call(gh, "GET", f"{path}?ref=main"), 404, "Not Found")
    directory = call(gh, "GET", "/repos/other/tool/contents/d?ref=trunk").json()
    assert [(entry["type"], entry["path"]) for entry in directory] == [("file", "d/x")]  # a list: not a file


def test_write_conflicts_answer_the_status_and_message_the_sync_matches(gh):
    repo, path = "acme/repo-001", "/repos/acme/repo-001/contents/README.md"
    old = git_blob_sha(b"# repo-001\n")
    main = head_sha(gh, repo, "main")
    body = {"ref": "refs/heads/main", "sha": main}
    assert_error(call(gh, "POST", f"/repos/{repo}/git/refs", body), 422, "Reference already exists")
    missing_sha = call(gh, "PUT", path, {"message": "m", "content": b64("new\n")})
    assert_error(missing_sha, 422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    assert call(gh, "PUT", path, {"message": "m", "content": b64("new\n"), "sha": old}).status == 200
    stale = call(gh, "PUT", path, {"message": "m", "content": b64("newer\n"), "sha": old})
    assert_error(stale, 409, f"README.md does not match {old}")
    assert gh.file(repo, "main", "README.md") == "new\n"


def test_protected_branches_refuse_refs_and_direct_writes_with_githubs_rule_messages(gh):
    assert_error(new_branch(gh, "acme/rules", "release/1.0"), 422, RULES_CREATE)
    assert new_branch(gh, "acme/rules", "feature").status == 201
    body = {"message": "m", "content": b64("b\n"), "sha": git_blob_sha(b"a\n")}
    assert_error(call(gh, "PUT", "/repos/acme/rules/contents/a.txt", body), 409, RULES_UPDATE)
    assert call(gh, "PUT", "/repos/acme/rules/contents/a.txt", {**body, "branch": "feature"}).status == 200
    assert gh.file("acme/rules", "main", "a.txt") == "a\n"


@pytest.mark.parametrize(
    ("repo", "message"),
    [
        ("acme/archived", "Repository was archived so is read-only."),
        ("acme/readonly", "Resource not accessible by personal access token"),
    ],
)
def test_read_only_repositories_answer_403_to_every_write(gh, repo, message):
    assert_error(new_branch(gh, repo, "x"), 403, message)
    assert_error(call(gh, "PUT", f"/repos/{repo}/contents/f", {"message": "m", "content": b64("x")}), 403, message)
    assert_error(call(gh, "POST", f"/repos/{repo}/pulls", {"title": "t", "head": "x", "base": "main"}), 403, message)


def test_pull_requests_open_list_and_label_and_refuse_a_duplicate_or_an_empty_one(gh):
    repo = "acme/repo-001"
    assert new_branch(gh, repo, "bump").status == 201
    call(gh, "PUT", f"/repos/{repo}/contents/v.txt", {"message": "m", "content": b64("2\n"), "branch": "bump"})
    r = call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Bump", "head": "bump", "base": "main", "body": "why"})
    assert r.status == 201
    pr = r.json()
    assert (pr["number"], pr["state"], pr["html_url"]) == (1, "open", f"{gh.url}/{repo}/pull/1")
    assert (pr["head"]["ref"], pr["base"]["ref"], pr["labels"]) == ("bump", "main", [])
    dup = call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Again", "head": "acme:bump", "base": "main"})
    message = "A pull request already exists for acme:bump."
    assert assert_error(dup, 422, "Validation Failed")["errors"] == [
        {"resource": "PullRequest", "code": "custom", "message": message}
    ]
    assert new_branch(gh, repo, "empty").status == 201
    empty = call(gh, "POST", f"/repos/{repo}/pulls", {"title": "t", "head": "empty", "base": "main"})
    assert assert_error(empty, 422, "Validation Failed")["errors"][0]["message"] == "No commits between main and empty"
    listed = call(gh, "GET", f"/repos/{repo}/pulls?state=open&head=acme:bump&base=main").json()
    assert [p["number"] for p in listed] == [1]
    assert call(gh, "GET", f"/repos/{repo}/pulls?state=open&head=acme:empty&base=main").json() == []
    labels = call(gh, "POST", f"/repos/{repo}/issues/1/labels", {"labels": ["deps", "automated"]})
    assert (labels.status, [label["name"] for label in labels.json()]) == (200, ["deps", "automated"])
    assert [label["name"] for label in gh.pulls(repo)[0]["labels"]] == ["deps", "automated"]
    assert_error(call(gh, "POST", f"/repos/{repo}/issues/7/labels", {"labels": ["x"]}), 404, "Not Found")


def test_a_squash_merge_keeps_the_branch_and_a_new_pull_request_from_it_still_opens(gh):
    # GIVEN a pull request adding v.txt from "bump", squash-merged the way a person merges it on GitHub
    repo = "acme/repo-001"
    new_branch(gh, repo, "bump")
    call(gh, "PUT", f"/repos/{repo}/contents/v.txt", {"message": "m", "content": b64("2\n"), "branch": "bump"})
    call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Bump", "head": "bump", "base": "main"})
    gh.merge(repo, 1, "squash")
    # THEN main has the file, the pull request is closed, and the branch stays
    assert gh.file(repo, "main", "v.txt") == "2\n"
    assert (gh.pulls(repo)[0]["state"], gh.pulls(repo)[0]["merged"]) == ("closed", True)
    assert call(gh, "GET", f"/repos/{repo}/pulls?state=open&head=acme:bump").json() == []
    # AND, as on GitHub, the branch's own commit is not on main, so a pull request from it opens, diff or not
    assert call(gh, "POST", f"/repos/{repo}/pulls", {"title": "Bump", "head": "bump", "base": "main"}).status == 201


# ---- rate limits, errors, credentials ---------------------------------------------------------------------------


def test_primary_rate_limit_refuses_with_403_until_the_reset_on_the_simulated_clock(make_server):
    clock = ManualClock()  # time moves only when the test says so: no roll-over mid-test, however slow the machine
    gh = make_server(org_world("acme", 1), rate_limit=10, clock=clock)
    gh.configure(rate_remaining=1, reset_in_seconds=2)
    reset = gh.rate_limit_state()["reset"]
    assert call(gh, "GET", "/repos/acme/repo-001").headers["x-ratelimit-remaining"] == "0"
    blocked = call(gh, "PUT", "/repos/acme/repo-001/contents/f.txt", {"message": "m", "content": b64("x")})
    assert blocked.status == 403
    assert blocked.json()["message"].startswith("API rate limit exceeded for user ID 1.")
    assert (blocked.headers["x-ratelimit-remaining"], blocked.headers["x-ratelimit-reset"]) == ("0", str(reset))
    assert gh.file("acme/repo-001", "main", "f.txt") is None  # the refused write had no effect
    rate = call(gh, "GET", "/rate_limit").json()  # answered, and not charged, while the window is spent
    assert rate["resources"]["core"] == {"limit": 10, "remaining": 0, "reset": reset, "used": 10, "resource": "core"}
    clock.advance(1)
    assert call(gh, "GET", "/repos/acme/repo-001").status == 403  # a second before the reset: still spent
    clock.advance(1)
    ok = call(gh, "GET", "/repos/acme/repo-001")
    assert (ok.status, ok.headers["x-ratelimit-remaining"]) == (200, "9")
    assert ok.headers["x-ratelimit-reset"] == str(reset + 3600)


def test_a_secondary_limit_refuses_writes_only_with_retry_after(make_server):
    gh = make_server(org_world("acme", 1), secondary_share=1.0, retry_after_seconds=42)
    r = new_branch(gh, "acme/repo-001", "x")
    assert (r.status, r.headers["retry-after"]) == (403, "42")
    assert r.json()["message"].startswith("You have exceeded a secondary rate limit.")
    assert gh.branches("acme/repo-001").keys() == {"main"}  # no effect
    assert call(gh, "GET", "/repos/acme/repo-001").status == 200  # reads are never secondary-limited


def test_server_errors_answer_502_then_the_service_recovers(gh):
    gh.configure(server_errors=1)
    assert call(gh, "GET", "/repos/acme/repo-001").status == 502
    assert call(gh, "GET", "/repos/acme/repo-001").status == 200


def test_a_wrong_token_answers_401_and_is_not_charged(make_server):
    gh = make_server(org_world("acme", 1), token="ghp_local")
    remaining = gh.rate_limit_state()["remaining"]
    assert_error(call(gh, "GET", "/repos/acme/repo-001", auth="token wrong"), 401, "Bad credentials")
    assert gh.rate_limit_state()["remaining"] == remaining
    assert call(gh, "GET", "/repos/acme/repo-001", auth="token ghp_local").status == 200
    assert call(gh, "GET", "/repos/acme/repo-001", auth="Bearer ghp_local").status == 200
    assert "ghp_local" not in repr(gh.requests)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/user"),
        ("GET", "/repos/acme/repo-001/branches"),
        ("GET", "/repos/acme/repo-001/branches/main"),
        ("GET", "/repos/acme/repo-001/git/refs/heads/main"),
        ("GET", "/repos/acme/repo-001/pulls/1"),
        ("PUT", "/repos/acme/repo-001/pulls/1/merge"),
        ("GET", "/repos/acme/repo-001/issues/1/labels"),
        ("DELETE", "/repos/acme/repo-001"),
    ],
)
def test_only_the_endpoints_the_product_calls_are_served(gh, method, path):
    # GIVEN pull request #1, so that the paths below name things that exist
    new_branch(gh, "acme/repo-001", "bump")
    call(gh, "PUT", "/repos/acme/repo-001/contents/v", {"message": "m", "content": b64("2\n"), "branch": "bump"})
    assert call(gh, "POST", "/repos/acme/repo-001/pulls", {"title": "t", "head": "bump", "base": "main"}).status == 201
    assert_error(call(gh, method, path, {}), 404, "Not Found")


def test_a_body_that_is_not_json_answers_400(gh):
    assert_error(call(gh, "POST", "/repos/acme/repo-001/pulls", raw=b"{not json"), 400, "Problems parsing JSON")


def test_the_double_serves_every_path_the_product_calls_and_no_path_it_does_not():
    # Every URL template the Lambda code passes to gidgethub (getitem/getiter/post/put), filled in as gidgethub does.
    lambdas = Path(__file__).resolve().parents[2] / "lambdas"
    found = {
        t
        for f in lambdas.rglob("*.py")
        for t in re.findall(r'"(/(?:repos|orgs|users|rate_limit)[^"]*)"', f.read_text())
    }
    paths = {
        uritemplate.expand(template, owner="acme", repo="a", branch="hubspoke/x", path="docs/a.md", number="1")
        for template in found
    }
    assert paths == {
        "/rate_limit",
        "/orgs/acme/repos",
        "/users/acme/repos",
        "/repos/acme/a",
        "/repos/acme/a/git/ref/heads/hubspoke/x",
        "/repos/acme/a/git/refs",
        "/repos/acme/a/contents/docs/a.md",
        "/repos/acme/a/pulls",
        "/repos/acme/a/issues/1/labels",
    }
    served = {pattern.pattern for pattern, _ in ROUTES}
    used = {pattern.pattern for pattern, _ in ROUTES for path in paths if pattern.fullmatch(path)}
    assert all(any(pattern.fullmatch(path) for pattern, _ in ROUTES) for path in paths)
    assert used == served  # no route the product never calls
