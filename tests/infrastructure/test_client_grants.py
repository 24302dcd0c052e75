"""The hub may read an earlier run's ledger rows and manifest: the `run` source (rerun failed/lost targets)."""

from __future__ import annotations

from typing import Any


def _hub_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    resources = template["Resources"]
    (hub_role,) = [
        fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in resources.values()
        if fn["Type"] == "AWS::Lambda::Function" and fn["Properties"].get("Handler") == "hub.handler.handler"
    ]
    statements: list[dict[str, Any]] = []
    for res in resources.values():
        if res["Type"] == "AWS::IAM::Policy" and {"Ref": hub_role} in res["Properties"]["Roles"]:
            statements.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def test_hub_may_query_the_ledger_and_read_run_manifests(template):
    ledger = template["Outputs"]["LedgerTableName"]["Value"]["Ref"]
    bucket = template["Outputs"]["BucketName"]["Value"]["Ref"]
    statements = _hub_statements(template)
    query = [s for s in statements if "dynamodb:Query" in _actions(s)]
    assert any({"Fn::GetAtt": [ledger, "Arn"]} in _resources(s) for s in query)
    manifests = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/runs/*"]]}
    reads = [s for s in statements if "s3:GetObject" in _actions(s)]
    assert any(manifests in _resources(s) for s in reads)
