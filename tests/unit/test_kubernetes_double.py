"""The local Kubernetes API (devtools/kubernetes) over HTTP: paths, Status objects, server-side apply, tokens."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.github.clock import ManualClock
from devtools.kubernetes import KubernetesServer, SimCluster, moto_credentials
from shared.eks_token import make_token

CM_PATH = "/api/v1/namespaces/default/configmaps/settings"
APPLY = "application/apply-patch+yaml"


def config_map(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": data,
    }


class Api:
    """Raw HTTP to one cluster of the double."""

    def __init__(self, server: KubernetesServer, cluster: SimCluster, token: str) -> None:
        self.base, self.token = server.endpoint(cluster), token

    def call(
        self, method: str, path: str, body: Any = None, content_type: str = APPLY, token: str | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token if token is None else token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), json.loads(err.read())


@pytest.fixture
def world() -> Iterator[tuple[KubernetesServer, SimCluster, Any]]:
    with mock_aws():
        sts = boto3.client("sts", region_name="us-east-1")
        cluster = SimCluster("prod-a", account="123456789012", region="us-east-1", access_entries={"123456789012"})
        other = SimCluster("prod-b", account="123456789012", region="us-east-1", access_entries={"999999999999"})
        with KubernetesServer([cluster, other], credentials=moto_credentials(), clock=ManualClock(time.time())) as k:
            yield k, cluster, sts


@pytest.fixture
def api(world) -> Api:
    server, cluster, sts = world
    return Api(server, cluster, make_token(sts, "prod-a"))


def test_a_missing_or_foreign_token_is_401_with_a_status_object(world, api):
    server, _, sts = world
    unauthorized = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert api.call("GET", CM_PATH, token="")[::2] == (401, unauthorized)
    assert api.call("GET", CM_PATH, token="k8s-aws-v1.bm90LWEtdXJs")[::2] == (401, unauthorized)
    # A good token for another cluster: the signature covers x-k8s-aws-id
    assert api.call("GET", CM_PATH, token=make_token(sts, "prod-b"))[0] == 401
    # A good token, but the account has no access entry in prod-b
    other = Api(server, server.cluster("prod-b"), make_token(sts, "prod-b"))
    assert other.call("GET", CM_PATH)[0] == 401


def test_an_old_token_is_refused(world, api):
    server, _, _ = world
    assert isinstance(server.clock, ManualClock)
    server.clock.advance(15 * 60 + 1)
    assert api.call("GET", CM_PATH)[0] == 401


def test_get_of_a_missing_object_is_404_not_found(api):
    code, _, body = api.call("GET", CM_PATH)
    assert code == 404
    assert (body["kind"], body["status"], body["reason"], body["code"]) == ("Status", "Failure", "NotFound", 404)
    assert body["message"] == 'configmaps "settings" not found'
    assert body["details"] == {"name": "settings", "group": "", "kind": "configmaps"}


def test_apply_creates_then_is_a_no_op_then_changes(api):
    code, _, created = api.call("PATCH", CM_PATH + "?fieldManager=hubspoke", config_map({"a": "1"}))
    assert code == 201
    meta = created["metadata"]
    assert meta["managedFields"] == [
        {
            "manager": "hubspoke",
            "operation": "Apply",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }
    ]
    code, _, same = api.call("PATCH", CM_PATH + "?fieldManager=hubspoke", config_map({"a": "1"}))
    assert code == 200
    assert same["metadata"]["resourceVersion"] == meta["resourceVersion"]
    _, _, changed = api.call("PATCH", CM_PATH + "?fieldManager=hubspoke", config_map({"b": "2"}))
    # a field the manager no longer applies is removed
    assert changed["data"] == {"b": "2"}
    assert int(changed["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])


def test_apply_needs_a_field_manager(api):
    code, _, body = api.call("PATCH", CM_PATH, config_map({"a": "1"}))
    assert (code, body["reason"]) == (422, "Invalid")


def test_a_field_of_another_manager_is_a_conflict_unless_forced(world, api):
    server, cluster, _ = world
    server.seed(cluster, config_map({"mode": "permissive"}), manager="helm")
    code, _, body = api.call("PATCH", CM_PATH + "?fieldManager=hubspoke", config_map({"mode": "strict"}))
    assert code == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "helm" using v1: .data.mode'
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "helm" using v1', "field": ".data.mode"}
    ]
    # The same value is no conflict: both managers own the field
    code, _, shared = api.call("PATCH", CM_PATH + "?fieldManager=hubspoke", config_map({"mode": "permissive"}))
    assert code == 200
    assert sorted(m["manager"] for m in shared["metadata"]["managedFields"]) == ["helm", "hubspoke"]
    code, _, forced = api.call("PATCH", CM_PATH + "?fieldManager=hubspoke&force=true", config_map({"mode": "strict"}))
    assert code == 200
    assert forced["data"] == {"mode": "strict"}
    assert [m["manager"] for m in forced["metadata"]["managedFields"]] == ["hubspoke"]


def test_a_dry_run_stores_nothing(world, api):
    server, cluster, _ = world
    code, _, body = api.call("PATCH", CM_PATH + "?fieldManager=hubspoke&dryRun=All", config_map({"a": "1"}))
    assert code == 201
    assert body["data"] == {"a": "1"}
    assert server.get(cluster, "v1", "ConfigMap", "default", "settings") is None


def test_a_pod_template_change_bumps_the_generation_and_the_rollout_follows_the_clock(world, api):
    server, cluster, _ = world
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {}, "template": {"spec": {"containers": [{"name": "w", "image": "w:1"}]}}},
    }
    server.seed(cluster, deployment)
    path = "/apis/apps/v1/namespaces/shop/deployments/web"
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}
    code, _, body = api.call("PATCH", path + "?fieldManager=hubspoke", patch, "application/strategic-merge-patch+json")
    assert code == 200
    assert body["metadata"]["generation"] == 2
    assert body["status"]["updatedReplicas"] == 0
    assert isinstance(server.clock, ManualClock)
    server.clock.advance(30)  # the double's rollouts take 30 s
    _, _, done = api.call("GET", path)
    assert done["status"] == {
        "observedGeneration": 2,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    # The list across namespaces holds it
    _, _, listed = api.call("GET", "/apis/apps/v1/deployments")
    assert (listed["kind"], [i["metadata"]["name"] for i in listed["items"]]) == ("DeploymentList", ["web"])


def test_throttled_requests_answer_429_with_retry_after(world, api):
    server, _, _ = world
    server.throttle("prod-a", requests=2, retry_after_seconds=4)
    for _ in range(2):
        code, headers, body = api.call("GET", CM_PATH)
        assert (code, headers["Retry-After"], body["reason"]) == (429, "4", "TooManyRequests")
        assert body["details"] == {"retryAfterSeconds": 4}
    assert api.call("GET", CM_PATH)[0] == 404


def test_unknown_paths_are_404(api):
    assert api.call("GET", "/api/v1/namespaces/default/secrets/x")[0] == 404
    assert api.call("GET", "/apis/batch/v1/jobs")[0] == 404
