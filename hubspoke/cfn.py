"""Resolve the few CloudFormation intrinsics the synthesized template uses, for the local engine.

Only Ref, Fn::GetAtt, Fn::Join, Fn::Select and Fn::Split appear in what we resolve; anything else is an
error, so a new intrinsic shows up as a failing test rather than a silently wrong value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UnresolvableError(ValueError):
    pass


class Resolver:
    """Values for Refs (`refs`) and GetAtts (`attrs[(logical_id, attribute)]`)."""

    def __init__(self, refs: Mapping[str, Any], attrs: Mapping[tuple[str, str], Any]) -> None:
        self.refs = refs
        self.attrs = attrs

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                if arg not in self.refs:
                    raise UnresolvableError(f"Ref {arg}")
                return self.refs[arg]
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                if (logical_id, attribute) not in self.attrs:
                    raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}")
                return self.attrs[(logical_id, attribute)]
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key.startswith("Fn::"):
                raise UnresolvableError(key)
        return {k: self.resolve(v) for k, v in value.items()}
