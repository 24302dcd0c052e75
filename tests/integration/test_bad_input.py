"""Bad input: a corpus of malformed run requests and property-based fuzzing of the request model.

Each bad request yields InvalidRunRequest naming the field, and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.handler import handler
from hub.logic import validate_request
from shared.errors import InvalidRunRequest
from shared.models import parse_run_request

CORPUS = json.loads((Path(__file__).parents[1] / "events" / "bad_requests.json").read_text())


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_bad_request_names_the_field_and_writes_nothing(aws, context, case):
    with pytest.raises(InvalidRunRequest) as err:
        handler({"request": case["request"], "execution_name": "bad-run"}, context)
    assert any(p.startswith(case["field"]) for p in err.value.problems), err.value.problems
    assert aws.keys() == []  # no manifest
    assert aws.dynamodb.scan(TableName="ledger-test")["Count"] == 0  # no ledger rows


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "operation": st.sampled_from(["noop", "", "NOOP", "x" * 70]) | json_values,
        "params": st.dictionaries(
            st.sampled_from(["sleep_ms", "fail_ids", "rate_limit_times", "zzz"]), json_values, max_size=3
        )
        | json_values,
        "source": st.fixed_dictionaries(
            {"type": st.sampled_from(["static", "s3-manifest", "x"])},
            optional={"targets": json_values, "key": json_values},
        )
        | json_values,
        "run_id": st.text(max_size=90) | json_values,
        "max_concurrency": st.integers(min_value=-10, max_value=20000) | json_values,
        "failure_threshold_percent": st.floats(allow_nan=True, allow_infinity=True) | json_values,
        "extra": json_values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=request_like | json_values)
def test_request_model_never_fails_any_other_way(raw):
    # GIVEN anything JSON can carry WHEN validated THEN it is accepted or refused with named fields, nothing else
    try:
        request, run_id = validate_request(raw, "exec-name")
    except InvalidRunRequest as err:
        problems = err.problems
    else:
        problems = []
    for problem in problems:
        field, _, message = problem.partition(": ")
        assert field, problem
        assert message, problem
    if problems:
        return
    assert request.operation == "noop"
    assert run_id
    assert request.max_concurrency is None or 1 <= request.max_concurrency <= 10000


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.text(min_size=0, max_size=300), max_size=8))
def test_target_ids_are_accepted_only_when_clean_and_unique(ids):
    from hub.logic import discover_targets
    from shared.sources import SourceContext

    raw = {"operation": "noop", "source": {"type": "static", "targets": [{"id": i} for i in ids]}}
    request = parse_run_request(raw)
    try:
        targets = discover_targets(request, SourceContext(s3=None))  # type: ignore[arg-type]  # static sources never read S3
    except InvalidRunRequest as err:
        problems = err.problems
    else:
        problems = []
    assert all(p.startswith(("source.targets", "...")) for p in problems), problems
    if problems:
        return
    assert len({t.id for t in targets}) == len(ids)
    for target in targets:
        assert target.id == target.id.strip()
        target.id.encode("utf-8")  # storable
