"""A dry run's plan: what the run would do and what it would cost on AWS, written to S3 and returned. Nothing else
is written: no claim, no manifest, no ledger row (hub.logic stops before all of them)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import pricing
from shared.config import HubEnv
from shared.models import ManifestLocation, RunRequest, Target
from shared.operations import OPERATIONS

FIRST_TARGETS = 10  # the plan names the first targets; the count says how many there are


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WavePlan(_Model):
    count: int
    size: int
    sizes: list[int]
    pause_seconds: int


class ApiBudget(_Model):
    """The API requests the run needs (the gate checks them before each wave: shared/budget.py)."""

    requests_per_target: int
    requests: int
    largest_wave_requests: int


class CostEstimate(_Model):
    prices_as_of: str = pricing.PRICES_AS_OF
    region: str = pricing.PRICES_REGION
    memory_mb: int
    spoke_seconds: float
    usage: dict[str, float]
    usd: dict[str, float]
    not_counted: str = pricing.NOT_COUNTED


class Plan(_Model):
    run_id: str
    operation: str
    source: str
    count: int
    waves: WavePlan
    max_concurrency: int
    # The ceiling for all runs together (settings max_total_concurrency; None: none): this run's spokes share it
    # with every other run at the time, and beyond it Lambda throttles them (retried, then failed).
    max_total_concurrency: int | None
    failure_threshold_percent: float
    first_targets: list[str]
    api_budget: ApiBudget | None
    cost: CostEstimate
    notes: dict[str, Any] = Field(default_factory=dict)


class PlanResult(_Model):
    """The hub's output for a dry run; the state machine ends on it (outcome `planned`)."""

    outcome: Literal["planned"] = "planned"
    plan: Plan
    location: ManifestLocation


def plan_key(run_id: str) -> str:
    return f"plans/{run_id}.json"


def _sizes(count: int, size: int) -> list[int]:
    return [min(size, count - start) for start in range(0, count, size)]


def _api_budget(request: RunRequest, sizes: list[int]) -> ApiBudget | None:
    operation = OPERATIONS[request.operation]
    if operation.budget is None or operation.requests_per_target is None:
        return None
    per_target = operation.requests_per_target(operation.params.model_validate(request.params))
    return ApiBudget(
        requests_per_target=per_target,
        requests=per_target * sum(sizes),
        largest_wave_requests=per_target * max(sizes, default=0),
    )


def estimate(request: RunRequest, count: int, waves: int, cfg: HubEnv, *, canary: bool = False) -> CostEstimate:
    """The run's AWS cost at the price table's prices (shared/pricing.py); `canary`: wave 0 is a canary."""
    operation = OPERATIONS[request.operation]
    spoke_seconds = operation.spoke_seconds(operation.params.model_validate(request.params), cfg)
    shape = pricing.RunShape(
        targets=count,
        waves=waves,
        budget_check=operation.budget is not None,
        spoke_seconds=spoke_seconds,
        memory_mb=cfg.lambda_memory_mb,
        # As the hub runs them: a canary's verdict and adaptive concurrency only with waves after the first.
        canary=canary and waves > 1,
        adaptive=request.adaptive_concurrency and waves > 1,
    )
    used = pricing.usage(shape)
    return CostEstimate(
        memory_mb=cfg.lambda_memory_mb, spoke_seconds=spoke_seconds, usage=asdict(used), usd=pricing.cost_usd(used)
    )


def make_plan(
    request: RunRequest, run_id: str, targets: list[Target], size: int, settings: dict[str, Any], cfg: HubEnv
) -> Plan:
    """The plan of a validated request whose targets were discovered; `settings` are the run's resolved
    max_concurrency, failure_threshold_percent and notes."""
    canary = request.canary.size(len(targets)) if request.canary is not None and targets else 0
    # A canary is the first wave; the others follow in waves of `size` (as hub.logic writes them).
    sizes = ([canary] if canary else []) + _sizes(len(targets) - canary, size)
    return Plan(
        run_id=run_id,
        operation=request.operation,
        source=str(request.source.get("type")),
        count=len(targets),
        waves=WavePlan(count=len(sizes), size=size, sizes=sizes, pause_seconds=request.wave_pause_seconds),
        first_targets=[t.id for t in targets[:FIRST_TARGETS]],
        api_budget=_api_budget(request, sizes),
        cost=estimate(request, len(targets), len(sizes), cfg, canary=bool(canary)),
        max_total_concurrency=cfg.max_total_concurrency,
        **settings,
    )


def write_plan(s3: Any, bucket: str, plan: Plan) -> PlanResult:
    """The plan's one write: plans/<run_id>.json."""
    location = ManifestLocation(bucket=bucket, key=plan_key(plan.run_id))
    body = json.dumps(plan.model_dump(mode="json"), indent=2).encode()
    s3.put_object(Bucket=bucket, Key=location.key, Body=body, ContentType="application/json")
    return PlanResult(plan=plan, location=location)
