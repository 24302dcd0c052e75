"""Hub Lambda handler: thin; the work is in hub.logic."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from hub.claims import RunClaims
from hub.logic import run_hub
from hub.plan import PlanResult
from shared.aws import client
from shared.config import HubEnv, config
from shared.errors import InvalidRunRequest, RateLimitError, TransientError
from shared.ledger import Ledger
from shared.models import DuplicateRun
from shared.observability import emit_metric, emit_metrics, log_context, logger, tracer

RETRYABLE = (RateLimitError, TransientError)


class HubEvent(BaseModel):
    """What the state machine's Hub task sends. The request stays raw here: the hub validates it itself, so a
    bad request is an InvalidRunRequest naming its fields (shared.models.parse_run_request)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    request: Any = None
    execution_name: str | None = None
    execution_id: str | None = None  # the execution's ARN; absent on a direct invoke


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Event: {"request": <run request>, "execution_name": <name>, "execution_id": <ARN>} (built by the state
    machine). Without the ARN (a direct invoke) the run id is not claimed."""
    cfg = config(HubEnv)
    parsed = parse(event=event, model=HubEvent)
    execution_name = parsed.execution_name or context.aws_request_id
    execution_arn = parsed.execution_id
    claims = (
        RunClaims(client("dynamodb"), client("stepfunctions"), cfg.idempotency_table, cfg.ledger_ttl_days)
        if cfg.idempotency_table and execution_arn
        else None
    )
    started = time.monotonic()
    with log_context(execution_name=execution_name):
        try:
            result = run_hub(
                parsed.request,
                execution_name,
                cfg,
                client("s3"),
                Ledger(client("dynamodb"), cfg.ledger_table),
                client,
                claims,
                execution_arn or None,
            )
        except RETRYABLE as exc:
            # The state machine retries these (a rate-limited or flaky discovery API): not a page yet. If the
            # retries run out, the execution fails and ExecutionsFailed pages.
            logger.warning("hub attempt failed, to be retried", extra={"error": type(exc).__name__, "cause": str(exc)})
            raise
        except InvalidRunRequest as exc:
            # The request was bad, the hub is fine: the execution fails (ExecutionsFailed), but HubFailed must
            # not page on-call for a typo in a manual start.
            emit_metrics({"HubFailed": (0, MetricUnit.Count), "HubRejectedRequests": (1, MetricUnit.Count)})
            logger.warning("run request rejected", extra={"error": type(exc).__name__, "cause": str(exc)})
            raise
        except Exception as exc:
            # No spoke will start: the HubFailed alarm pages on this.
            emit_metric("HubFailed", 1)
            logger.error("hub failed", extra={"error": type(exc).__name__, "cause": str(exc)})
            raise
        finally:
            emit_metric("HubDuration", (time.monotonic() - started) * 1000, MetricUnit.Milliseconds)
        emit_metric("HubFailed", 0)  # a datapoint on success too, so the alarm reads OK rather than no data
        if isinstance(result, DuplicateRun):
            # At-least-once delivery: harmless, and counted so a flood of them shows on the dashboard.
            emit_metric("DuplicateRuns", 1)
            logger.info(
                "duplicate delivery: another execution is running this run id; nothing to do",
                extra={"run_id": result.run.run_id, "duplicate_of": result.duplicate_of},
            )
            return result.model_dump(mode="json")
        if isinstance(result, PlanResult):
            logger.info(
                "run planned: nothing written but the plan",
                extra={"run_id": result.plan.run_id, "count": result.plan.count, "plan": result.location.key},
            )
            return result.model_dump(mode="json")
        logger.info(
            "run seeded",
            extra={"run_id": result.run.run_id, "count": result.count, "max_concurrency": result.max_concurrency},
        )
    return result.model_dump(mode="json")
