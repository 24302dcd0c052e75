"""Run request and target models: every problem is reported with the field it concerns."""

from __future__ import annotations

import pytest

from shared.errors import InvalidRunRequest
from shared.models import Target, parse_run_request

VALID = {"operation": "noop", "source": {"type": "static", "targets": [{"id": "a"}]}}


def test_valid_request_parses():
    request = parse_run_request(VALID)
    assert request.operation == "noop"
    assert request.max_concurrency is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"operation": None}, "operation"),
        ({"operation": ""}, "operation"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 10001}, "max_concurrency"),
        ({"max_concurrency": "5"}, "max_concurrency"),
        ({"max_concurrency": 2.5}, "max_concurrency"),
        ({"failure_threshold_percent": 150}, "failure_threshold_percent"),
        ({"run_id": "../etc"}, "run_id"),
        ({"run_id": "a" * 81}, "run_id"),
        ({"params": []}, "params"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_field_is_named(change, field):
    with pytest.raises(InvalidRunRequest) as err:
        parse_run_request({**VALID, **change})
    assert any(p.startswith(f"{field}:") for p in err.value.problems), err.value.problems


def test_missing_source_is_named():
    with pytest.raises(InvalidRunRequest) as err:
        parse_run_request({"operation": "noop"})
    assert any(p.startswith("source:") for p in err.value.problems)


def test_request_must_be_an_object():
    with pytest.raises(InvalidRunRequest, match="must be a JSON object"):
        parse_run_request(["noop"])


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidRunRequest) as err:
        parse_run_request({"operation": "", "source": {}, "max_concurrency": -1})
    assert len(err.value.problems) == 2
    assert str(err.value).startswith("invalid run request: ")


@pytest.mark.parametrize("bad_id", ["", " lead", "trail ", "a\nb", "tab\there", "bidi\u202eevil", "x" * 257])
def test_bad_target_ids_are_refused(bad_id):
    with pytest.raises(ValueError, match="id"):
        Target.model_validate({"id": bad_id})


def test_target_keeps_its_attributes_and_accepts_integer_ids():
    target = Target.model_validate({"id": 7, "cluster": "prod"})
    assert target.id == "7"
    assert target.model_dump() == {"id": "7", "cluster": "prod"}
