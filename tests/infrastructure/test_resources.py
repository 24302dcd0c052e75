"""Functions, storage and settings as synthesized."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hubspoke.synth import synthesize

from .conftest import definition_of, resources

ROOT = Path(__file__).parents[2]


def test_every_function_from_one_factory(template):
    functions = resources(template, "AWS::Lambda::Function")
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    assert handlers == [
        "gate.handler.handler",
        "hub.handler.handler",
        "indexer.handler.handler",
        "spoke.handler.handler",
        "summarize.handler.handler",
    ]
    for fn in functions.values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["MemorySize"] == 512
        # The task timeout (300; the gate's 60) is the authority; Lambda's is a backstop 10 s later.
        assert props["Timeout"] == (70 if props["Handler"].startswith("gate.") else 310)
        assert props["LoggingConfig"]["LogGroup"]["Ref"] in template["Resources"]
        (layer,) = props["Layers"]
        assert template["Parameters"][layer["Ref"]]["Type"] == "AWS::SSM::Parameter::Value<String>"


def _pinned(requirements: Path, package: str) -> str:
    """The version `package==X` pins in a requirements/constraints file (names compared as pip does)."""
    wanted = package.lower().replace("_", "-")
    for line in requirements.read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep and name.strip().lower().replace("_", "-") == wanted:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in {requirements}")


def test_deployed_powertools_layer_is_the_tested_release(template):
    """Every function takes the AWS-managed layer of exactly the Powertools release the tests run (pinned in
    constraints.txt), through the versioned public SSM parameter, never `latest`."""
    version = _pinned(ROOT / "constraints.txt", "aws-lambda-powertools")
    # The Powertools docs' format: /aws/service/powertools/python/{arch}/{python_version}/{version}.
    expected = f"/aws/service/powertools/python/x86_64/python3.14/{version}"
    defaults = {
        template["Parameters"][layer["Ref"]]["Default"]
        for fn in resources(template, "AWS::Lambda::Function").values()
        for layer in fn["Properties"]["Layers"]
    }
    assert defaults == {expected}
    assert _pinned(ROOT / "requirements.txt", "aws-lambda-powertools") == version


def test_log_groups_have_retention(template):
    groups = resources(template, "AWS::Logs::LogGroup")
    assert len(groups) == 6  # five functions and the state machine
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}


def test_bucket_is_encrypted_private_tls_only_and_access_logged(template):
    bucket_id = template["Outputs"]["BucketName"]["Value"]["Ref"]
    props = template["Resources"][bucket_id]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    logs_bucket = props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert logs_bucket != bucket_id
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        tls = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(resources(template, "AWS::S3::BucketPolicy")) == 2  # both buckets are TLS-only


def test_buckets_are_versioned_and_old_versions_expire(template):
    # Requirement (issue 16, checkov CKV_AWS_21): every bucket versioned, so an overwritten or deleted manifest,
    # report, target list or access log can be restored; its old versions deleted after 30 days, then the delete
    # markers left alone, so storage stays bounded. S3 refuses ExpiredObjectDeleteMarker beside Days in one rule.
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, bucket_id
        rules = props["LifecycleConfiguration"]["Rules"]
        old_versions = [r for r in rules if "NoncurrentVersionExpiration" in r]
        assert old_versions == [
            {
                "Id": "expire-old-versions",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                "ExpiredObjectDeleteMarker": True,
                "Status": "Enabled",
            }
        ], bucket_id
        assert not [r for r in rules if r.get("ExpiredObjectDeleteMarker") and "ExpirationInDays" in r], bucket_id


def test_ledger_table_keys_ttl_and_recovery(template):
    props = template["Resources"][template["Outputs"]["LedgerTableName"]["Value"]["Ref"]]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "run_id", "KeyType": "HASH"},
        {"AttributeName": "target_id", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_ledger_has_a_sparse_index_of_failed_rows_keyed_by_run(template):
    """Progress counts a run's failed targets from this index: only rows carrying `failed_run` (= run_id, set by
    RecordFailure) are in it, so a count reads the failed rows and never the succeeded ones. Keys only: a count
    needs nothing else, and index entries stay small (about 100 bytes each)."""
    props = template["Resources"][template["Outputs"]["LedgerTableName"]["Value"]["Ref"]]["Properties"]
    assert props.get("GlobalSecondaryIndexes") == [
        {
            "IndexName": "failed-by-run",
            "KeySchema": [
                {"AttributeName": "failed_run", "KeyType": "HASH"},
                {"AttributeName": "target_id", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    assert {"AttributeName": "failed_run", "AttributeType": "S"} in props["AttributeDefinitions"]


def test_roles_have_no_wildcard_actions(template):
    for name, policy in resources(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions, name


@pytest.fixture(scope="module")
def tuned_template(tmp_path_factory):
    """GIVEN other settings WHEN synthesized THEN they flow into the workflow and the functions."""
    overrides = {
        "max_concurrency": 25,
        "max_total_concurrency": 40,
        "spoke_timeout_seconds": 120,
        "failure_threshold_percent": 5,
        "retry": {"transient": {"interval_seconds": 10, "backoff_rate": 3.0, "max_attempts": 2}},
        "monitoring": {
            "spoke_failure_rate_percent": 25,
            "alarm_email": "oncall@example.com",
            "namespace": "Platform/HubSpoke",
        },
    }
    return synthesize(tmp_path_factory.mktemp("tuned"), overrides).template


def test_settings_flow_into_the_stack(tuned_template):
    spoke = definition_of(tuned_template)["States"]["Spokes"]["ItemProcessor"]["States"]["Spoke"]
    (transient,) = [r for r in spoke["Retry"] if r["ErrorEquals"] == ["TransientError"]]
    assert (transient["IntervalSeconds"], transient["BackoffRate"], transient["MaxAttempts"]) == (10, 3, 2)
    assert spoke["TimeoutSeconds"] == 120
    envs = [
        f["Properties"]["Environment"]["Variables"] for f in resources(tuned_template, "AWS::Lambda::Function").values()
    ]
    # Only the functions that read them hold them (the hub validates runs, Summarize decides the outcome).
    assert {e["DEFAULT_MAX_CONCURRENCY"] for e in envs if "DEFAULT_MAX_CONCURRENCY" in e} == {"25"}
    assert {e["FAILURE_THRESHOLD_PERCENT"] for e in envs if "FAILURE_THRESHOLD_PERCENT" in e} == {"5.0"}
    assert sum("FAILURE_THRESHOLD_PERCENT" in e for e in envs) == 2


def _reserved(template: dict[str, Any]) -> dict[str, Any]:
    """Each function's handler and its ReservedConcurrentExecutions (None: unreserved)."""
    return {
        f["Properties"]["Handler"]: f["Properties"].get("ReservedConcurrentExecutions")
        for f in resources(template, "AWS::Lambda::Function").values()
    }


def test_the_ceiling_for_all_runs_is_the_spokes_reserved_concurrency(tuned_template):
    # GIVEN max_total_concurrency 40 THEN the spoke, and only the spoke, has 40 reserved: Lambda runs at most 40
    # spokes at once, whatever the runs; the hub, gate, summarize and indexer (one per run or schedule) reserve
    # nothing, so the account keeps the rest
    assert _reserved(tuned_template) == {
        "hub.handler.handler": None,
        "spoke.handler.handler": 40,
        "gate.handler.handler": None,
        "summarize.handler.handler": None,
        "indexer.handler.handler": None,
    }
    (hub,) = [
        f["Properties"]["Environment"]["Variables"]
        for f in resources(tuned_template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "hub.handler.handler"
    ]
    assert hub["MAX_TOTAL_CONCURRENCY"] == "40"  # the hub refuses a run asking for more


def test_by_default_no_function_reserves_concurrency(template):
    # Reserving takes concurrency from every other function of the account (and fails a deploy in an account whose
    # limit cannot spare it with 100 left unreserved): only when the deployment asks
    assert set(_reserved(template).values()) == {None}


def test_monitoring_settings_flow_into_alarms_and_the_topic(tuned_template):
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources(tuned_template, "AWS::CloudWatch::Alarm").values()
    }
    assert alarms["HubSpoke-SpokeFailureRate"]["Threshold"] == 25
    assert alarms["HubSpoke-HubFailed"]["Namespace"] == "Platform/HubSpoke"
    envs = [
        f["Properties"]["Environment"]["Variables"] for f in resources(tuned_template, "AWS::Lambda::Function").values()
    ]
    assert {e["POWERTOOLS_METRICS_NAMESPACE"] for e in envs} == {"Platform/HubSpoke"}
    (subscription,) = resources(tuned_template, "AWS::SNS::Subscription").values()
    assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == (
        "email",
        "oncall@example.com",
    )


def test_bad_setting_fails_synth_naming_the_key(tmp_path):
    # GIVEN a bad value in the context WHEN app.py runs (as `cdk synth` runs it) THEN it exits 2 naming the key
    context = {"hubspoke": {"max_concurrency": 0}}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path / "bad-synth")}
    proc = subprocess.run(
        check=False, args=[sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "cdk.json context hubspoke.max_concurrency" in proc.stderr


LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
ECS_SCAN = ("ecs:ListClusters", "ecs:ListServices", "ecs:DescribeServices", "ecs:DescribeTaskDefinition")


def _actions_by_handler(template):
    """The IAM actions each function's role is granted (X-Ray's are added by tracing)."""
    role_of = {
        f["Properties"]["Handler"].split(".")[0]: f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in resources(template, "AWS::Lambda::Function").values()
    }
    granted: dict[str, set[str]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = {r["Ref"] for r in policy["Properties"]["Roles"]}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for handler, role in role_of.items():
                if role in roles:
                    granted.setdefault(handler, set()).update(actions)
    return {h: {a for a in acts if not a.startswith("xray:")} for h, acts in granted.items()}


SECRET = "secretsmanager:GetSecretValue"
ASSUME = "sts:AssumeRole"  # the HubSpoke role in target accounts (shared/credentials.py)


def test_each_function_gets_exactly_the_calls_its_code_makes(template):
    assert _actions_by_handler(template) == {
        "hub": {
            "dynamodb:BatchWriteItem",
            "s3:PutObject",
            "s3:GetObject",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",  # the run-id claim (hub/claims.py)
            "states:DescribeExecution",  # is the claim's owner still running?
            *ECS_SCAN,
            *LOGS,
            SECRET,
            ASSUME,
            "organizations:ListAccounts",  # the ecs-clusters source's `organization: true`
        },
        "spoke": {
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "ecs:UpdateService",
            "ecs:DescribeServices",
            # ecs-run-task on this account's clusters: start, find again, watch, read essential containers,
            # tag on create, pass the task definition's roles to ECS tasks
            "ecs:RunTask",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "ecs:DescribeTaskDefinition",
            "ecs:TagResource",
            "iam:PassRole",
            "eks:DescribeCluster",  # the k8s operations on this account's clusters: endpoint and CA
            *LOGS,
            SECRET,
            ASSUME,
        },
        # GetItem and UpdateItem: adaptive concurrency's read and record of the run's counters (gate/handler.py).
        "gate": {SECRET, "dynamodb:GetItem", "dynamodb:UpdateItem", *LOGS},
        # BatchWriteItem: the targets after a failed canary recorded skipped (summarize/logic.py).
        "summarize": {"dynamodb:Query", "dynamodb:BatchWriteItem", "s3:PutObject", *LOGS},
        # sqs: the on-failure destination of its asynchronous invocations (CDK's grantSendMessages).
        "indexer": {
            "dynamodb:BatchWriteItem",
            *ECS_SCAN,
            *LOGS,
            "sqs:SendMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            ASSUME,
        },
    }


def test_functions_log_only_to_their_own_log_group(template):
    for name, fn in resources(template, "AWS::Lambda::Function").items():
        role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        assert "ManagedPolicyArns" not in template["Resources"][role]["Properties"], name
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        statements = [
            st
            for p in resources(template, "AWS::IAM::Policy").values()
            if {"Ref": role} in p["Properties"]["Roles"]
            for st in p["Properties"]["PolicyDocument"]["Statement"]
            if "logs:PutLogEvents" in st["Action"]
        ]
        assert [st["Resource"] for st in statements] == [{"Fn::GetAtt": [group, "Arn"]}], name


def test_only_the_github_callers_read_the_token_secret_and_only_that_secret(template):
    readers = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            if SECRET in st["Action"]:
                assert st["Action"] == SECRET
                arn = "".join(p if isinstance(p, str) else "<ref>" for p in st["Resource"]["Fn::Join"][1])
                assert arn.endswith(":secret:hubspoke/github-token-??????"), arn
                readers.append(policy["Properties"]["Roles"][0]["Ref"])
    assert sorted(r.removeprefix("Functions").split("Role")[0] for r in readers) == ["Gate", "Hub", "Spoke"]
