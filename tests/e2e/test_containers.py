"""Each local engine is a new container for every function: the Lambda code's caches start empty."""

from __future__ import annotations

import functools
import importlib

import pytest

from hubspoke.engine import LocalEngine
from shared import caches

pytestmark = pytest.mark.e2e


def test_a_cache_registered_by_lambda_code_is_empty_in_the_next_engine(stack, tmp_path):
    # GIVEN a cache registered the way Lambda code registers one, filled while a first engine runs
    @caches.register
    @functools.cache
    def made_once_per_container() -> object:
        return object()

    request = {"run_id": "r", "operation": "noop", "params": {}, "source": {"type": "static", "targets": [{"id": "a"}]}}
    with LocalEngine(stack, log_path=tmp_path / "first.log") as first:
        summary = first.run(request).summary
        assert summary is not None
        assert summary["succeeded"] == 1
        in_first = made_once_per_container()
    aws = importlib.import_module("shared.aws")
    assert aws.client.cache_info().currsize > 0  # the handlers made their clients in the first engine
    # WHEN a second engine starts THEN the cache starts empty, and so do the handlers' own
    with LocalEngine(stack, log_path=tmp_path / "second.log"):
        assert aws.client.cache_info().currsize == 0
        assert made_once_per_container() is not in_first
