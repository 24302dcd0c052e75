"""Hub logic: validate everything first, then write the manifest and seed the ledger (nothing half-done)."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from hub.claims import RunClaims
from hub.history import HISTORY_EVENT_QUOTA, max_waves
from hub.plan import PlanResult, make_plan, write_plan
from shared.budget import MAX_CHECKS
from shared.config import HubEnv
from shared.errors import InvalidRunRequest
from shared.ledger import Ledger
from shared.models import (
    MAX_TARGET_BYTES,
    MAX_TARGET_DEPTH,
    MAX_WAVES,
    CanaryPlan,
    DuplicateRun,
    HubResult,
    ManifestLocation,
    RunContext,
    RunRequest,
    Target,
    Waves,
    field_problems,
    nesting_depth,
    parse_run_request,
)
from shared.operations import OPERATIONS
from shared.sources import SOURCES, SourceContext

MAX_PROBLEMS = 20  # one bad manifest can have thousands; name the first ones


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def wave_key(run_id: str, index: int) -> str:
    return f"runs/{run_id}/wave-{index:04d}.json"


def validate_request(raw: Any, execution_name: str, cfg: HubEnv | None = None) -> tuple[RunRequest, str]:
    """Validate the request and the operation's params (against the deployment's `cfg` too, when given);
    returns the request and the run id."""
    request = parse_run_request(raw)
    problems: list[str] = []
    operation = OPERATIONS.get(request.operation)
    if operation is None:
        problems.append(f"operation: unknown operation '{request.operation}' (known: {', '.join(sorted(OPERATIONS))})")
    else:
        try:
            params = operation.params.model_validate(request.params)
        except ValidationError as err:
            problems.extend(field_problems(err, prefix="params"))
        else:
            if operation.check is not None and cfg is not None:
                problems.extend(operation.check(params, cfg))
    if cfg is not None:
        problems.extend(_over_the_ceiling(request, cfg))
    source_type = request.source.get("type")
    if source_type not in SOURCES:
        problems.append(f"source.type: unknown source {source_type!r} (known: {', '.join(sorted(SOURCES))})")
    if problems:
        raise InvalidRunRequest(problems)
    return request, request.run_id or execution_name


def _over_the_ceiling(request: RunRequest, cfg: HubEnv) -> list[str]:
    """A run may not ask for more spokes at once than all runs together may have (the spoke's reserved
    concurrency): the rest would only be throttled."""
    ceiling = cfg.max_total_concurrency
    if ceiling is None or request.max_concurrency is None or request.max_concurrency <= ceiling:
        return []
    return [
        f"max_concurrency: {request.max_concurrency} is over the deployment's max_total_concurrency ({ceiling}), "
        "the ceiling for all runs together: ask for at most that"
    ]


def discover_targets(request: RunRequest, ctx: SourceContext) -> list[Target]:
    """Run the request's source and validate every target; ids must be unique."""
    source = SOURCES[str(request.source.get("type"))]
    try:
        spec = source.spec.model_validate(request.source)
    except ValidationError as err:
        raise InvalidRunRequest(field_problems(err, prefix="source")) from None
    raw_targets = source.discover(spec, ctx)
    where = source.origin(spec)
    targets: list[Target] = []
    problems: list[str] = []
    for index, raw in enumerate(raw_targets):
        if not isinstance(raw, dict):
            problems.append(f"{where}[{index}]: must be an object with an 'id'")
            continue
        # Before anything recurses into it (the model, the size check's encoder): refused, naming the attribute.
        too_deep = [str(k) for k, v in raw.items() if nesting_depth(v) >= MAX_TARGET_DEPTH]
        if too_deep:
            problems.extend(f"{where}[{index}].{k}: nests deeper than {MAX_TARGET_DEPTH} levels" for k in too_deep)
            continue
        try:
            target = Target.model_validate(raw)
        except ValidationError as err:
            problems.extend(field_problems(err, prefix=f"{where}[{index}]"))
            continue
        if len(json.dumps(raw, default=str)) > MAX_TARGET_BYTES:
            problems.append(f"{where}[{index}]: target is larger than {MAX_TARGET_BYTES} bytes")
            continue
        targets.append(target)
    duplicates = [tid for tid, n in Counter(t.id for t in targets).items() if n > 1]
    if duplicates:
        shown = ", ".join(repr(d) for d in duplicates[:10])
        problems.append(f"{where}: duplicate target ids: {shown}{' ...' if len(duplicates) > 10 else ''}")
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        raise InvalidRunRequest(problems[:MAX_PROBLEMS] + ([f"... and {extra} more"] if extra > 0 else []))
    return targets


def run_hub(
    raw_request: Any,
    execution_name: str,
    cfg: HubEnv,
    s3: Any,
    ledger: Ledger,
    clients: Callable[[str], Any] | None = None,
    claims: RunClaims | None = None,
    execution_arn: str | None = None,
) -> HubResult | DuplicateRun | PlanResult:
    """Validate, discover, claim the run id, then write: the manifest first, the ledger rows second.

    With `claims` and the execution's ARN, a run id that another execution is still running is a duplicate
    delivery: nothing is written (hub/claims.py). A dry run writes its plan and nothing else (hub/plan.py).
    """
    request, run_id = validate_request(raw_request, execution_name, cfg)
    context = SourceContext(s3=s3, env=cfg, clients=clients, run_id=run_id)
    targets = discover_targets(request, context)
    canary = request.canary.size(len(targets)) if request.canary is not None and targets else 0
    rest = len(targets) - canary
    size = request.wave_size or max(rest if canary else len(targets), 1)
    # A canary is wave 0; the other targets follow in waves of `size` (one wave when no wave_size is given).
    wave_count = (1 + math.ceil(rest / size)) if canary else math.ceil(len(targets) / size)
    budget_check = OPERATIONS[request.operation].budget is not None
    # Only a run of more than one wave has a next wave whose concurrency can adapt.
    adaptive = request.adaptive_concurrency and wave_count > 1
    _check_waves(len(targets), size, wave_count, budget_check, canary=bool(canary), adaptive=adaptive)
    settings = {
        "max_concurrency": request.max_concurrency or _default_concurrency(request.operation, cfg),
        "failure_threshold_percent": (
            request.failure_threshold_percent
            if request.failure_threshold_percent is not None
            else cfg.failure_threshold_percent
        ),
        "notes": {"source": str(request.source.get("type")), **context.notes},
    }
    if request.dry_run:
        # Before the claim: a plan must never hold the run id against the real run.
        return write_plan(s3, cfg.bucket, make_plan(request, run_id, targets, size, settings, cfg))
    # The claim is the first write: a refused request writes nothing, not even a claim.
    if claims is not None and execution_arn:
        claim = claims.claim(run_id, execution_arn)
        if not claim.owned:
            run = RunContext(run_id=run_id, operation=request.operation, params=request.params)
            return DuplicateRun(run=run, duplicate_of=claim.owner)
    items = [t.model_dump(mode="json") for t in targets]
    key = manifest_key(run_id)
    _put_json(s3, cfg.bucket, key, items)
    waves = Waves(keys=[], count=wave_count, size=size, pause_seconds=request.wave_pause_seconds, canary=canary)
    start = 0
    for index in range(wave_count):
        waves.keys.append(wave_key(run_id, index))
        end = start + waves.targets_in(index, len(targets))
        _put_json(s3, cfg.bucket, waves.keys[-1], items[start:end])
        start = end
    # With a canary each row knows whether it is in it: a stopped run skips exactly the rows after the canary.
    # Each row knows its wave: a stopped run skips exactly the rows after the canary, and the summary reports
    # each wave's targets, failures and peak concurrency.
    ledger.seed_pending(run_id, targets, cfg.ledger_ttl_days, canary=canary, waves=waves)
    if canary or request.circuit_breaker is not None or adaptive:
        ledger.seed_counters(run_id, cfg.ledger_ttl_days)
    threshold = (
        request.failure_threshold_percent
        if request.failure_threshold_percent is not None
        else cfg.failure_threshold_percent
    )
    return HubResult(
        run=RunContext(
            run_id=run_id,
            operation=request.operation,
            params=request.params,
            circuit_breaker=request.circuit_breaker,
            adaptive_concurrency=adaptive,
        ),
        manifest=ManifestLocation(bucket=cfg.bucket, key=key),
        waves=waves,
        count=len(targets),
        budget_check=budget_check,
        canary=CanaryPlan(
            enabled=bool(canary) and wave_count > 1,
            targets=canary,
            allowed_failures=allowed_failures(canary, threshold),
            pause_seconds=request.canary.pause_seconds if request.canary is not None else 0,
        ),
        adaptive_concurrency=adaptive,
        **settings,
    )


def allowed_failures(targets: int, threshold_percent: float) -> int:
    """The most failures among `targets` whose rate stays within the threshold, the rate rounded as Summarize
    rounds it (2 decimals): the state machine compares the canary's failure count with this number."""
    allowed = 0
    for failures in range(1, targets + 1):
        if round(100.0 * failures / targets, 2) <= threshold_percent:
            allowed = failures
    return allowed


def _check_waves(
    targets: int, size: int, wave_count: int, budget_check: bool, *, canary: bool = False, adaptive: bool = False
) -> None:
    """At most MAX_WAVES waves, and no more than fit in an execution's history."""
    limit = min(MAX_WAVES, max_waves(budget_check, canary=canary, adaptive=adaptive))
    if wave_count > limit:
        checks = (
            f"each wave may check the API budget {MAX_CHECKS + 1} times"
            if budget_check
            else "adaptive concurrency checks each wave once"
        )
        why = f" ({checks}; an execution's history holds {HISTORY_EVENT_QUOTA:,} events)" if limit < MAX_WAVES else ""
        raise InvalidRunRequest(
            [f"wave_size: {targets} targets in waves of {size} make {wave_count} waves; at most {limit}{why}"]
        )


def _default_concurrency(operation: str, cfg: HubEnv) -> int:
    """The operation's own default (GitHub mutations: a small one), else the deployment's."""
    default = OPERATIONS[operation].default_max_concurrency
    return default(cfg) if default is not None else cfg.default_max_concurrency


def _put_json(s3: Any, bucket: str, key: str, items: list[Any]) -> None:
    body = json.dumps(items, separators=(",", ":")).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
