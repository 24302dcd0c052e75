"""The local engine's intrinsic resolver: what it supports, and a clear error for what it does not."""

from __future__ import annotations

import pytest

from hubspoke.cfn import Resolver, UnresolvableError

RESOLVER = Resolver({"AWS::Partition": "aws", "Table": "ledger"}, {("Fn", "Arn"): "arn:fn"})


def test_join_ref_and_getatt():
    value = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x:", {"Fn::GetAtt": ["Fn", "Arn"]}]]}
    assert RESOLVER.resolve(value) == "arn:aws:x:arn:fn"


def test_nested_structures():
    assert RESOLVER.resolve({"a": [{"Ref": "Table"}, 1]}) == {"a": ["ledger", 1]}


def test_select_and_split():
    assert RESOLVER.resolve({"Fn::Select": [1, {"Fn::Split": [":", "a:b:c"]}]}) == "b"


@pytest.mark.parametrize("value", [{"Ref": "Nope"}, {"Fn::GetAtt": ["Fn", "Name"]}, {"Fn::Sub": "x"}])
def test_unknown_values_fail_loudly(value):
    with pytest.raises(UnresolvableError):
        RESOLVER.resolve(value)
