"""GitHub answers -> our error names, the gate's decision, file-sync params and github-org filters (no I/O)."""

from __future__ import annotations

import http

import gidgethub
import pytest
from pydantic import ValidationError

from hub.sources.github_org import Spec, keep
from shared.budget import MAX_CHECKS, Budget, decide
from shared.errors import (
    ArchivedRepositoryError,
    CredentialsError,
    PermissionDeniedError,
    ProtectedBranchError,
    RateLimitError,
    RateLimitResetError,
    TargetError,
    TargetNotFoundError,
    TransientError,
)
from shared.github import is_status, rate_limit_wait, server_time, translate
from shared.operations import OPERATIONS
from spoke.operations.github_file_sync import Params, requests_per_target


def http_error(status: int, message: str, **headers: str) -> gidgethub.HTTPException:
    kind = gidgethub.GitHubBroken if status >= 500 else gidgethub.BadRequest
    return kind(http.HTTPStatus(status), message, headers=headers)


PRIMARY = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1800000000", "date": "Fri, 15 Jan 2027 07:50:00 GMT"}


@pytest.mark.parametrize(
    ("err", "expected", "text"),
    [
        # GitHub said when (a reset, a retry-after): RateLimitResetError, which no fast Retry resends early
        (http_error(403, "API rate limit exceeded", **PRIMARY), RateLimitResetError,
         "retry after 601 s: doing it: primary rate limit exhausted, resets at 2027-01-15T08:00:00+00"),
        (http_error(403, "You have exceeded a secondary rate limit", **{"retry-after": "60"}),
         RateLimitResetError, "retry after 60 s: doing it: secondary rate limit (403)"),
        (http_error(429, "Too many", **{"retry-after": "3"}), RateLimitResetError,
         "retry after 3 s: doing it: secondary"),
        # ... it did not: RateLimitError (backoff first)
        (http_error(429, "slow down", **{"x-ratelimit-remaining": "0"}), RateLimitError, "retry after 60 s: doing"),
        (http_error(403, "You have exceeded a secondary rate limit. Please wait"), RateLimitError, "retry after 60 s:"),
        (http_error(502, "Server Error"), TransientError, "Server Error (502)"),
        (http_error(401, "Bad credentials"), CredentialsError, "token was rejected"),
        (http_error(403, "Repository was archived so is read-only."), ArchivedRepositoryError, "archived"),
        (http_error(422, "Repository rule violations found\n\nCannot create ref due to creations being restricted."),
         ProtectedBranchError, "Repository rule violations found Cannot create ref"),
        (http_error(409, "Repository rule violations found\n\nChanges must be made through a pull request."),
         ProtectedBranchError, "protected branch"),
        (http_error(404, "Not Found"), TargetNotFoundError, "not visible to the token"),
        (http_error(403, "Resource not accessible by personal access token"), PermissionDeniedError, "permission"),
        (http_error(422, "Invalid request."), TargetError, "Invalid request. (422)"),
    ],
)  # fmt: skip
def test_github_answers_map_to_error_names(err, expected, text):
    mapped = translate(err, "doing it")
    assert type(mapped) is expected
    assert text in str(mapped)
    assert str(mapped).startswith(("doing it", "archived", "protected", "not found", "permission", "retry after"))


def test_non_github_errors_pass_through():
    boom = ValueError("x")
    assert translate(boom, "doing") is boom


def test_rate_limit_wait_for_secondary_and_primary_limits():
    assert rate_limit_wait(403, {"retry-after": "5"}) == 5
    assert rate_limit_wait(429, {"retry-after": "0"}) == 0
    primary = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1795741230", "date": "Fri, 27 Nov 2026 01:00:00 GMT"}
    assert rate_limit_wait(403, primary) == 31  # until the reset on the server's clock, plus a second
    assert rate_limit_wait(403, {**primary, "retry-after": "5"}) == 31  # the primary reset rules
    assert rate_limit_wait(500, {"retry-after": "5"}) is None
    assert rate_limit_wait(403, {"retry-after": "soon"}) is None
    assert rate_limit_wait(403, {}) is None  # a plain 403: permission, not a limit


def test_is_status_looks_into_validation_errors():
    err = gidgethub.ValidationError(
        [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for a:b."}],
        "Validation Failed",
        headers={},
    )
    assert is_status(err, 422, "already exists")
    assert not is_status(err, 422, "no commits between")
    assert not is_status(err, 404)
    assert not is_status(ValueError(), 422)


def test_server_time_reads_the_date_header():
    assert server_time({"date": "Fri, 27 Nov 2026 01:00:00 GMT"}) == 1795741200.0
    assert abs(server_time({"date": "garbage"}) - server_time({})) < 5


def test_gate_goes_when_the_budget_covers_the_wave():
    d = decide(Budget(100, 5000, 600), targets=10, requests_per_target=8, max_concurrency=5, checks=0)
    assert (d.wait_seconds, d.max_concurrency, d.needed) == (0, 5, 80)


def test_gate_waits_until_the_reset_when_the_wave_needs_more():
    d = decide(Budget(10, 5000, 3.2), targets=10, requests_per_target=8, max_concurrency=5, checks=0)
    assert d.wait_seconds == 5  # ceil(3.2) + 1 s margin
    assert "10 requests left, the wave needs 80" in d.reason


def test_gate_lowers_concurrency_to_what_the_budget_serves():
    d = decide(Budget(20, 5000, 60), targets=2, requests_per_target=8, max_concurrency=10, checks=0)
    assert (d.wait_seconds, d.max_concurrency) == (0, 2)


def test_gate_does_not_wait_when_waiting_cannot_help():
    full = decide(Budget(50, 50, 60), targets=100, requests_per_target=8, max_concurrency=4, checks=0)
    assert full.wait_seconds == 0
    assert "whole budget" in full.reason
    stuck = decide(Budget(0, 50, 60), targets=100, requests_per_target=8, max_concurrency=4, checks=MAX_CHECKS)
    assert stuck.wait_seconds == 0
    assert stuck.max_concurrency == 1


def test_gate_does_not_wait_a_window_to_gain_one_request_when_no_window_holds_the_wave():
    # GIVEN a limit of 160, 159 left, and a wave of 46 repositories at 14 requests each (644: four windows' worth)
    d = decide(Budget(159, 160, 3600), targets=46, requests_per_target=14, max_concurrency=2, checks=0)
    # THEN it goes now, both spokes at once: waiting would idle an hour and the wave spans the resets anyway
    assert (d.wait_seconds, d.max_concurrency, d.needed) == (0, 2, 644)
    assert "the whole budget (160) is below the wave's 644: go now with 159 left" in d.reason


def test_gate_starts_a_wave_over_358_repositories_on_github_without_an_idle_hour():
    # GIVEN GitHub's 5,000 requests an hour, 4,000 left, 400 repositories at 14 requests each
    d = decide(Budget(4000, 5000, 3000), targets=400, requests_per_target=14, max_concurrency=2, checks=0)
    assert (d.wait_seconds, d.max_concurrency) == (0, 2)


def test_gate_waits_when_the_reset_restores_the_waves_concurrency():
    # GIVEN 20 left: one spoke's worth (14), where the wave runs 2 at once (28) and a window holds 160
    d = decide(Budget(20, 160, 59.5), targets=46, requests_per_target=14, max_concurrency=2, checks=0)
    assert d.wait_seconds == 61  # ceil(59.5) + 1 s margin
    assert d.reason == "20 requests left, 2 spokes at once need 28: wait 61 s for 160"


def test_gate_goes_at_the_concurrency_the_budget_serves_when_no_window_holds_the_concurrency():
    # GIVEN 20 spokes at once would need 280 a round, more than the window's 160: 100 left serve 7
    d = decide(Budget(100, 160, 600), targets=46, requests_per_target=14, max_concurrency=20, checks=0)
    assert (d.wait_seconds, d.max_concurrency) == (0, 7)


def test_gate_waits_when_what_is_left_cannot_serve_a_single_spoke():
    d = decide(Budget(5, 160, 600), targets=46, requests_per_target=14, max_concurrency=20, checks=0)
    assert d.wait_seconds == 601


def file_params(**overrides):
    return {"files": [{"path": ".github/CODEOWNERS", "content": "* @platform\n"}], "branch": "hubspoke/codeowners",
            "title": "Add CODEOWNERS", **overrides}  # fmt: skip


def test_file_sync_params_accept_a_plain_request():
    params = Params.model_validate(file_params(labels=["platform"], draft=True))
    assert requests_per_target(params) == 7 + 3 + 1
    assert OPERATIONS["github-file-sync"].params is Params


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"files": []}, "files"),
        ({"files": [{"path": "/etc/passwd", "content": ""}]}, "files.0.path"),
        ({"files": [{"path": "a/../b", "content": ""}]}, "files.0.path"),
        ({"files": [{"path": "docs/a?b.md", "content": ""}]}, "files.0.path"),
        ({"files": [{"path": "a", "content": ""}, {"path": "a", "content": "x"}]}, "each path at most once"),
        ({"branch": "feature..x"}, "branch"),
        ({"branch": "-x"}, "branch"),
        ({"branch": "has space"}, "branch"),
        ({"branch": "main", "base": "main"}, "must differ from base"),
        ({"title": ""}, "title"),
        ({"token": "ghp_x"}, "token"),  # a token in params is refused: it would travel in every state
    ],
)
def test_file_sync_params_name_the_bad_field(overrides, field):
    with pytest.raises(ValidationError) as err:
        Params.model_validate(file_params(**overrides))
    assert field in str(err.value).replace("\n", " ") or field in {
        ".".join(map(str, e["loc"])) for e in err.value.errors()
    }


def repo(name, **extra):
    return {"name": name, "full_name": f"acme/{name}", "archived": False, "fork": False, "topics": [], **extra}


def test_github_org_filters():
    spec = Spec(type="github-org", org="acme")
    assert keep(spec, repo("a")) is None
    assert keep(spec, repo("a", archived=True)) == "archived"
    assert keep(spec, repo("a", fork=True)) == "fork"
    assert keep(Spec(type="github-org", org="acme", include_archived=True), repo("a", archived=True)) is None
    patterned = Spec(type="github-org", org="acme", name_pattern="svc-*", topics=["python"], exclude=["svc-old"])
    assert keep(patterned, repo("svc-a", topics=["python", "web"])) is None
    assert keep(patterned, repo("svc-b", topics=["web"])) == "topics"
    assert keep(patterned, repo("lib-a", topics=["python"])) == "name"
    assert keep(patterned, repo("svc-old", topics=["python"])) == "excluded"
    only = Spec(type="github-org", org="acme", include=["x"])
    assert keep(only, repo("y")) == "not included"


def test_github_org_spec_names_bad_fields():
    with pytest.raises(ValidationError) as err:
        Spec.model_validate({"type": "github-org", "org": "bad org", "owner_type": "team"})
    fields = {e["loc"][0] for e in err.value.errors()}
    assert fields == {"org", "owner_type"}


def test_the_github_client_stays_out_of_cold_start_until_a_github_run_needs_it():
    """Hub, gate and spoke import every operation's params and every source; the client (~10 ms) loads only
    when a GitHub run or source first calls GitHub."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, hub.handler, gate.handler, spoke.handler; "
        "print(sorted(m for m in ('gidgethub', 'shared.github') if m in sys.modules))"
    )
    lambdas = Path(__file__).parents[2] / "lambdas"
    done = subprocess.run([sys.executable, "-c", code], cwd=lambdas, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
