"""Acknowledgments for the template checkers other than cdk-nag (stacks/nag.py): checkov and cfn-lint's rules
(the Serverless Rules among them). The one way to accept a finding of either, on one resource, with a reason.

Both are written into the resource's Metadata, where each tool reads them from the template:
- checkov: `Metadata.checkov.skip`, a list of `{"id": <check id>, "comment": <reason>}` (checkov's CloudFormation
  suppression format; it reports the check as skipped with the comment).
- cfn-lint: `Metadata.cfn-lint.config.ignore_checks`, a list of rule ids; JSON has no comments, so the reasons
  go beside it in `Metadata.cfn-lint.reasons` (rule id -> reason), a key cfn-lint does not read.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnResource

from stacks.nag import MIN_REASON_LENGTH

CHECKOV_KEY = "checkov"
CFN_LINT_KEY = "cfn-lint"


def _require_reason(rule: str, reason: str) -> None:
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgment of {rule} needs a reason of at least {MIN_REASON_LENGTH} characters")


def skip_checkov(resource: CfnResource, check_id: str, reason: str) -> None:
    """Accept one checkov check (CKV_AWS_...) on one CloudFormation resource, saying why."""
    _require_reason(check_id, reason)
    current: dict[str, Any] = resource.get_metadata(CHECKOV_KEY) or {}
    skips: list[dict[str, str]] = list(current.get("skip", []))
    if any(skip["id"] == check_id for skip in skips):
        raise ValueError(f"{check_id} is already acknowledged on {resource.node.path}")
    resource.add_metadata(CHECKOV_KEY, {**current, "skip": [*skips, {"id": check_id, "comment": reason}]})


def ignore_cfn_lint(resource: CfnResource, rule_id: str, reason: str) -> None:
    """Accept one cfn-lint rule (E/W/I..., or a Serverless Rules id such as WS1004) on one resource, saying why."""
    _require_reason(rule_id, reason)
    current: dict[str, Any] = resource.get_metadata(CFN_LINT_KEY) or {}
    config: dict[str, Any] = current.get("config", {})
    ignored: list[str] = list(config.get("ignore_checks", []))
    if rule_id in ignored:
        raise ValueError(f"{rule_id} is already ignored on {resource.node.path}")
    reasons: dict[str, str] = current.get("reasons", {})
    resource.add_metadata(
        CFN_LINT_KEY,
        {
            **current,
            "config": {**config, "ignore_checks": [*ignored, rule_id]},
            "reasons": {**reasons, rule_id: reason},
        },
    )
