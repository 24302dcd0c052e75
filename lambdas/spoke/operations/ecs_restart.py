"""`ecs-restart`: force a new deployment of one ECS service (the image-push redeploy scenario).

Idempotent per (image digest, service) through Powertools Idempotency on DynamoDB: an event delivered
twice restarts a service once; the second time the target is `unchanged`. The service is called through the
target's clients (`ctx.target`): a target in another account (image_push.accounts) is restarted there, under
the cross-account role, and its key names its account and region besides the cluster.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from shared import caches, clock
from shared.errors import TargetError, aws_call_error
from shared.models import OperationResult, SpokeInput
from shared.once import call_once, once_per_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient

    from shared.config import HubEnv
    from shared.operations import OperationContext

NAME = "ecs-restart"
POLL_SECONDS = 10
# Room in the Spoke task's timeout besides the rollout wait: UpdateService, the idempotency record, the last
# poll (stacks/settings.py checks the deployment's defaults with the same number).
STEADY_MARGIN_SECONDS = 30
_TARGET_ERRORS = {
    "ServiceNotFoundException": "the service no longer exists",
    "ServiceNotActiveException": "the service is not active (deleted or draining)",
    "ClusterNotFoundException": "the cluster no longer exists",
    "AccessDeniedException": "HubSpoke may not update services in this cluster (see image_push.clusters)",
    "InvalidParameterException": "ECS refused the update",
}


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wait_for_steady: bool | None = None  # default: setting image_push.wait_for_steady
    # At most the longest Spoke task timeout (890 s) less the margin; check() holds it to the deployed one.
    steady_timeout_seconds: int | None = Field(default=None, ge=10, le=890 - STEADY_MARGIN_SECONDS)


def max_steady_seconds(spoke_timeout_seconds: int) -> int:
    """The longest rollout wait that fits in the Spoke task's timeout."""
    return spoke_timeout_seconds - STEADY_MARGIN_SECONDS


# A plan's assumption: UpdateService and the idempotency record take about a second.
RESTART_SECONDS = 1.0


def spoke_seconds(params: Params, cfg: HubEnv) -> float:
    """A plan's assumption: the restart, plus the whole rollout wait when it waits (an upper bound: a spoke that
    sees the service steady earlier ends earlier)."""
    wait = cfg.wait_for_steady if params.wait_for_steady is None else params.wait_for_steady
    return RESTART_SECONDS + ((params.steady_timeout_seconds or cfg.steady_timeout_seconds) if wait else 0)


def check(params: Params, cfg: HubEnv) -> list[str]:
    """A rollout wait must end inside the Spoke task's timeout, or the target fails States.Timeout mid-wait."""
    wait = cfg.wait_for_steady if params.wait_for_steady is None else params.wait_for_steady
    timeout = params.steady_timeout_seconds or cfg.steady_timeout_seconds
    limit = max_steady_seconds(cfg.spoke_timeout_seconds)
    if not wait or timeout <= limit:
        return []
    where = (
        "params.steady_timeout_seconds"
        if params.steady_timeout_seconds is not None
        else f"params.wait_for_steady: the deployment's image_push.steady_timeout_seconds ({timeout})"
    )
    return [
        f"{where}: a rollout wait of {timeout} s does not fit in the Spoke task's timeout "
        f"(spoke_timeout_seconds {cfg.spoke_timeout_seconds} s, of which {STEADY_MARGIN_SECONDS} s for the "
        f"restart itself): at most {limit} s"
    ]


def _ecs_error(err: ClientError, what: str) -> Exception:
    return aws_call_error(err, what, "ECS", _TARGET_ERRORS)


@caches.register
@cache
def _restart_once(dynamodb: DynamoDBClient, table: str, hours: int) -> Any:
    """The restart, made idempotent on `key` (digest, cluster, service, and another account's place); built once
    per container. The ECS client is an argument, not part of the key: each target's is in its own account."""

    @once_per_key(dynamodb, table, hours)
    def restart(key: dict[str, str], attempt_token: str, ecs: ECSClient) -> dict[str, str]:
        try:
            response = ecs.update_service(cluster=key["cluster"], service=key["service"], forceNewDeployment=True)
        except ClientError as err:
            raise _ecs_error(err, f"restarting {key['service']}") from None
        status = response["service"].get("status", "ACTIVE")
        if status != "ACTIVE":
            # ECS refuses inactive services with ServiceNotActiveException; say the same if it did not.
            raise TargetError(f"restarting {key['service']}: {_TARGET_ERRORS['ServiceNotActiveException']} ({status})")
        deployments = response["service"].get("deployments", [])
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), deployments[0] if deployments else {})
        return {"deployment_id": str(primary.get("id", "")), "token": attempt_token}

    return restart


def run(params: Params, item: SpokeInput, ctx: OperationContext) -> OperationResult:
    cfg = ctx.env
    target = item.target.model_dump()
    cluster, service = str(target.get("cluster", "")), str(target.get("service", ""))
    if not cluster or not service:
        raise TargetError("the target has no 'cluster' and 'service' (use the image-users source)")
    key = {"digest": str(target.get("digest") or target.get("image", "")), "cluster": cluster, "service": service}
    # A cluster named without its ARN ("prod") is ambiguous across accounts: another account's target keys its
    # place too. This account's key is what it always was, so a push delivered across an upgrade restarts once.
    key.update({name: str(target[name]) for name in ("account", "region") if target.get(name)})
    ecs: ECSClient = ctx.target.client("ecs")
    restart = _restart_once(ctx.dynamodb, cfg.idempotency_table, cfg.idempotency_hours)
    outcome, first = call_once(restart, key, f"a restart of {service} for this image is already in progress", ecs=ecs)
    deployment_id = outcome["deployment_id"]
    detail = {"cluster": cluster, "service": service, "deployment_id": deployment_id}
    if not first:
        # An earlier delivery of the same push already restarted this service.
        return OperationResult(status="unchanged", detail={**detail, "duplicate_delivery": True})
    wait = cfg.wait_for_steady if params.wait_for_steady is None else params.wait_for_steady
    if wait:
        detail["rollout"] = _wait_for_steady(
            ecs, cluster, service, deployment_id, params.steady_timeout_seconds or cfg.steady_timeout_seconds
        )
    return OperationResult(status="succeeded", detail=detail)


def _wait_for_steady(ecs: ECSClient, cluster: str, service: str, deployment_id: str, timeout_seconds: int) -> str:
    """Poll the deployment's rollout state until COMPLETED; FAILED or too slow fails the target."""
    waited = 0
    while True:
        try:
            described = ecs.describe_services(cluster=cluster, services=[service])["services"]
        except ClientError as err:
            raise _ecs_error(err, f"watching {service}") from None
        deployment = next(
            (d for s in described for d in s.get("deployments", []) if d.get("id") == deployment_id), None
        )
        state = str((deployment or {}).get("rolloutState", "COMPLETED"))  # no rollout tracking: nothing to wait for
        if state == "COMPLETED":
            return state
        if state == "FAILED":
            reason = (deployment or {}).get("rolloutStateReason", "")
            raise TargetError(f"deployment {deployment_id} of {service} failed: {reason}")
        if waited >= timeout_seconds:
            raise TargetError(f"deployment {deployment_id} of {service} not steady after {timeout_seconds} s")
        clock.sleep(POLL_SECONDS)
        waited += POLL_SECONDS
