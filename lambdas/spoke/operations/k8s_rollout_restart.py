"""`k8s-rollout-restart`: what `kubectl rollout restart` does, for one Deployment, StatefulSet or DaemonSet.

It sets the pod template's `kubectl.kubernetes.io/restartedAt` annotation, so the controller replaces every pod.
Idempotent per (image digest, workload) as `ecs-restart` is, through Powertools Idempotency on DynamoDB: a push
delivered twice restarts a workload once, the second time the target is `unchanged`. A target without a digest
(a run started by hand) is keyed by its run instead, so a retry within the run does not restart twice.
Optionally waits for the rollout (observed generation, updated and available replicas) within the Spoke
task's timeout.

Target: {"id", "account", "region", "cluster", "namespace", "kind", "workload", "digest" or "image"} (the
image index's, for an image push); the endpoint and CA from DescribeCluster, as for k8s-apply.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from shared import caches, clock
from shared.errors import TargetError
from shared.models import OperationResult, SpokeInput
from shared.once import call_once, once_per_key
from spoke.operations.k8s_apply import cluster_for

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from shared.config import HubEnv
    from shared.kube import KubeCluster
    from shared.operations import OperationContext

NAME = "k8s-rollout-restart"
KINDS = ("Deployment", "StatefulSet", "DaemonSet")
POLL_SECONDS = 5
# Room in the Spoke task's timeout besides the rollout wait: the patch, the idempotency record, the last poll.
WAIT_MARGIN_SECONDS = 30
RESTART_SECONDS = 1.0


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wait: bool = False
    timeout_seconds: int = Field(default=300, ge=10, le=890 - WAIT_MARGIN_SECONDS)


def spoke_seconds(params: Params, cfg: HubEnv) -> float:
    """The patch, plus the whole rollout wait when it waits (an upper bound)."""
    return RESTART_SECONDS + (params.timeout_seconds if params.wait else 0)


def check(params: Params, cfg: HubEnv) -> list[str]:
    """A rollout wait must end inside the Spoke task's timeout, or the target fails States.Timeout mid-wait."""
    limit = cfg.spoke_timeout_seconds - WAIT_MARGIN_SECONDS
    if not params.wait or params.timeout_seconds <= limit:
        return []
    return [
        f"params.timeout_seconds: a rollout wait of {params.timeout_seconds} s does not fit in the Spoke task's "
        f"timeout (spoke_timeout_seconds {cfg.spoke_timeout_seconds} s, of which {WAIT_MARGIN_SECONDS} s for the "
        f"restart itself): at most {limit} s"
    ]


@caches.register
@cache
def _restart_once(dynamodb: DynamoDBClient, table: str, hours: int) -> Any:
    """The restart, made idempotent on `key`; the cluster is an argument, not part of the key."""

    @once_per_key(dynamodb, table, hours)
    def restart(key: dict[str, str], attempt_token: str, kube: KubeCluster) -> dict[str, str]:
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        obj = kube.restart(key["kind"], key["namespace"], key["workload"], at)
        return {
            "generation": str(obj.get("metadata", {}).get("generation", "")),
            "restarted_at": at,
            "token": attempt_token,
        }

    return restart


def run(params: Params, item: SpokeInput, ctx: OperationContext) -> OperationResult:
    cfg = ctx.env
    target = item.target.model_dump()
    kind, namespace, workload = (str(target.get(k) or "") for k in ("kind", "namespace", "workload"))
    if kind not in KINDS or not namespace or not workload:
        raise TargetError(
            f"the target needs 'kind' (one of {', '.join(KINDS)}), 'namespace' and 'workload' "
            "(use the image-users source of an image push)"
        )
    kube = cluster_for(item, ctx)
    digest = str(target.get("digest") or target.get("image") or "")
    key = {
        "digest": digest or f"run:{item.run.run_id}",
        "cluster": kube.name,
        "namespace": namespace,
        "kind": kind,
        "workload": workload,
    }
    restart = _restart_once(ctx.dynamodb, cfg.idempotency_table, cfg.idempotency_hours)
    outcome, first = call_once(
        restart, key, f"a restart of {kind} {namespace}/{workload} for this image is in progress", kube=kube
    )
    detail: dict[str, Any] = {
        "cluster": kube.name,
        "workload": f"{kind}/{namespace}/{workload}",
        "generation": outcome["generation"],
        "restarted_at": outcome["restarted_at"],
    }
    if not first:
        # An earlier delivery of the same push already restarted this workload.
        return OperationResult(status="unchanged", detail={**detail, "duplicate_delivery": True})
    if params.wait:
        detail["rollout"] = wait_for_rollout(kube, kind, namespace, workload, params.timeout_seconds)
    return OperationResult(status="succeeded", detail=detail)


def wait_for_rollout(kube: KubeCluster, kind: str, namespace: str, workload: str, timeout_seconds: int) -> str:
    """Poll the workload until its rollout is complete; too slow fails the target."""
    from shared.kube import rollout_done

    waited = 0
    while True:
        obj = kube.get("apps/v1", kind, workload, namespace)
        if obj is None:
            raise TargetError(f"{kind} {namespace}/{workload} disappeared during its rollout")
        if rollout_done(obj):
            return "complete"
        if waited >= timeout_seconds:
            raise TargetError(f"the rollout of {kind} {namespace}/{workload} is not complete after {timeout_seconds} s")
        clock.sleep(POLL_SECONDS)
        waited += POLL_SECONDS
