"""Typed models of what flows through the workflow: run request, target, spoke input/result, summary."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.errors import InvalidRunRequest

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
# Control characters (C0, DEL, C1: 0x9b starts a terminal sequence, 0x85 ends a line for some readers), line and
# paragraph separators, zero-width and bidi-override characters make ids that look alike but differ, or corrupt
# logs and terminals; lone surrogates cannot be stored (not UTF-8).
_BAD_ID_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
MAX_TARGET_ID_LENGTH = 256
# Each target travels in a Map item; keep it far below the 256 KB state limit.
MAX_TARGET_BYTES = 8 * 1024
# How deep a target attribute may nest (lists and objects): Python's JSON encoder and decoder recurse, and fail
# near 1,000 levels with RecursionError, so deeper data would crash the hub, not be refused naming the field.
MAX_TARGET_DEPTH = 32
# A spoke's result (its detail) goes into the ledger row (400 KB item limit) and is the Lambda task's output,
# which Step Functions fails past 256 KiB with States.DataLimitExceeded, an error no Catch matches.
MAX_RESULT_BYTES = 64 * 1024
MAX_CONCURRENCY = 10000
MAX_WAVES = 1000  # wave manifest keys travel in the state: keep the list far below 256 KB
# Params travel with every spoke's input; keep them far below the 256 KB state limit.
MAX_PARAMS_BYTES = 32 * 1024
OPERATION_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
# Target attributes that say where it lives: (name, pattern, what a valid value is).
_WHERE = (
    ("account", r"[0-9]{12}", "an AWS account id (12 digits, as text)"),
    ("region", r"[a-z]{2}(-[a-z]+)+-[0-9]", "an AWS region name (e.g. eu-west-1)"),
    ("role_arn", r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}", "an IAM role ARN"),
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(BaseModel):
    """One thing the operation runs on. `id` is unique in a run; other fields are the target's attributes."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1, max_length=MAX_TARGET_ID_LENGTH)

    @field_validator("id", mode="before")
    @classmethod
    def _id_is_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("id")
    @classmethod
    def _id_is_clean(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("must not start or end with whitespace")
        if _BAD_ID_CHARS.search(value):
            raise ValueError("must not contain control, zero-width, bidirectional-override or surrogate characters")
        return value

    @model_validator(mode="after")
    def _where_is_well_formed(self) -> Target:
        # Optional attributes that say where the target lives (shared.credentials): checked here, before anything
        # is written, so a typo fails the run request naming the field instead of every spoke at AssumeRole.
        for name, pattern, meaning in _WHERE:
            value = (self.model_extra or {}).get(name)
            if value is not None and (not isinstance(value, str) or not re.fullmatch(pattern, value)):
                raise ValueError(f"{name}: {value!r} is not {meaning}")
        return self


# When --circuit-breaker P% names no minimum: a percentage of fewer finished targets says little.
DEFAULT_BREAKER_MIN_TARGETS = 10
CANARY_FAILED = "canary failed"
CIRCUIT_OPEN = "circuit open"  # how every circuit breaker's skip reason starts


class Canary(_Model):
    """The first wave, judged against the run's failure threshold before any other target is touched."""

    targets: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY * 10, strict=True)
    percent: float | None = Field(default=None, gt=0.0, le=100.0, allow_inf_nan=False)
    pause_seconds: int = Field(default=0, ge=0, le=86400, strict=True)

    @model_validator(mode="after")
    def _one_size(self) -> Canary:
        if (self.targets is None) == (self.percent is None):
            raise ValueError("give exactly one of targets (a count) or percent")
        return self

    def size(self, count: int) -> int:
        """How many of `count` targets the canary wave holds (a percentage rounds up: never an empty canary)."""
        wanted = self.targets if self.targets is not None else math.ceil(count * (self.percent or 0) / 100)
        return min(max(wanted, 1), count)


class CircuitBreaker(_Model):
    """Stop starting spokes once the run has recorded `failures` failures, or `percent` % of at least
    `min_targets` finished targets."""

    failures: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY * 10, strict=True)
    percent: float | None = Field(default=None, gt=0.0, le=100.0, allow_inf_nan=False)
    # With percent: at least this many finished targets first (None: DEFAULT_BREAKER_MIN_TARGETS).
    min_targets: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY * 10, strict=True)

    @model_validator(mode="after")
    def _one_limit(self) -> CircuitBreaker:
        if (self.failures is None) == (self.percent is None):
            raise ValueError("give exactly one of failures (a count) or percent")
        if self.failures is not None and self.min_targets is not None:
            raise ValueError("min_targets goes with percent, not with failures")
        return self

    def reason(self) -> str:
        """Why a spoke skipped its target: the ledger row's reason, one per rule (the summary counts by it)."""
        if self.failures is not None:
            return f"{CIRCUIT_OPEN} after {self.failures} failures"
        return f"{CIRCUIT_OPEN} after {self.percent:g} % of at least {self.minimum} finished targets failed"

    @property
    def minimum(self) -> int:
        """How many targets must have finished before a percentage can open the breaker."""
        return self.min_targets if self.min_targets is not None else DEFAULT_BREAKER_MIN_TARGETS

    def is_open(self, failures: int, finished: int) -> bool:
        """`failures` recorded so far, `finished` targets done (failed included)."""
        if self.failures is not None:
            return failures >= self.failures
        return finished >= self.minimum and 100.0 * failures / finished >= (self.percent or 0)


class RunRequest(_Model):
    """What a user (CLI, EventBridge, console) asks for. Validated by the hub before anything is written."""

    run_id: str | None = Field(default=None, pattern=RUN_ID_PATTERN)
    operation: str = Field(pattern=OPERATION_PATTERN)
    params: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any]
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY, strict=True)
    failure_threshold_percent: float | None = Field(default=None, ge=0.0, le=100.0, allow_inf_nan=False)
    # Waves: run the targets in slices of wave_size, one Distributed Map each, wave_pause_seconds apart.
    wave_size: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY * 10, strict=True)
    wave_pause_seconds: int = Field(default=0, ge=0, le=86400, strict=True)
    # A plan: validate and discover, write nothing but the plan (hub/plan.py), start no spoke.
    dry_run: bool = Field(default=False, strict=True)
    # Stop a bad change early: judge a first wave before the rest; stop starting spokes after K failures.
    canary: Canary | None = None
    circuit_breaker: CircuitBreaker | None = None
    # Halve the next wave's concurrency after a wave with many rate-limited targets, recover after clean ones
    # (shared/adaptive.py): only a run of more than one wave has a next wave to adapt.
    adaptive_concurrency: bool = Field(default=False, strict=True)

    @field_validator("params")
    @classmethod
    def _params_fit_in_a_spoke_input(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Before the encoder recurses into it (RecursionError near 1,000 levels, a crash, not a refusal).
        if nesting_depth(value) > MAX_TARGET_DEPTH:
            raise ValueError(f"nests deeper than {MAX_TARGET_DEPTH} levels")
        try:
            size = len(json.dumps(value, allow_nan=False).encode())
        except (ValueError, TypeError):
            raise ValueError("must be plain JSON (no NaN, Infinity or lone surrogates)") from None
        if size > MAX_PARAMS_BYTES:
            raise ValueError(f"is {size} bytes; at most {MAX_PARAMS_BYTES} (params travel with every spoke)")
        return value


class RunContext(_Model):
    """The part of a run every spoke needs."""

    run_id: str
    operation: str
    params: dict[str, Any] = Field(default_factory=dict)
    # Each spoke reads the run's failure counter once before it acts, when the run has one.
    circuit_breaker: CircuitBreaker | None = None
    # With adaptive concurrency a spoke counts its target's first rate limit in the run's counters item.
    adaptive_concurrency: bool = False

    @model_serializer(mode="wrap")
    def _without_an_absent_breaker(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The run travels in every spoke's input: a run without a breaker (or adaptive concurrency) carries no
        # field for it.
        data: dict[str, Any] = handler(self)
        if data.get("circuit_breaker") is None:
            data.pop("circuit_breaker", None)
        if not data.get("adaptive_concurrency"):
            data.pop("adaptive_concurrency", None)
        return data


class ManifestLocation(_Model):
    bucket: str
    key: str


class Waves(_Model):
    """The run's waves: one manifest each, run one after another with a pause between."""

    keys: list[str]
    count: int
    size: int
    pause_seconds: int
    # Targets in the first wave when it is a canary (0: no canary, every wave holds `size`).
    canary: int = 0

    def targets_in(self, index: int, total: int) -> int:
        """How many of the run's `total` targets wave `index` holds."""
        if not self.canary:
            return max(0, min(self.size, total - index * self.size))
        if index == 0:
            return min(self.canary, total)
        return max(0, min(self.size, total - self.canary - (index - 1) * self.size))

    def index_of(self, position: int) -> int:
        """The wave of the target at `position` (0-based) in the run's manifest."""
        if not self.canary:
            return position // self.size
        if position < self.canary:
            return 0
        return 1 + (position - self.canary) // self.size


class CanaryPlan(_Model):
    """What the state machine needs to judge the canary after wave 0 (always present, so paths resolve)."""

    enabled: bool = False
    targets: int = 0
    # The most failures the canary may have and stay within the run's failure threshold.
    allowed_failures: int = 0
    pause_seconds: int = 0


class HubResult(_Model):
    """The hub's output: the state the rest of the workflow runs on (kept small on purpose)."""

    run: RunContext
    manifest: ManifestLocation
    waves: Waves
    progress: dict[str, int] = Field(default_factory=lambda: {"wave": 0})
    count: int
    max_concurrency: int
    # True when the operation has an API budget: the state machine checks it before each wave (Gate).
    budget_check: bool = False
    failure_threshold_percent: float
    canary: CanaryPlan = Field(default_factory=CanaryPlan)
    # The gate sets each wave's concurrency from the previous wave's rate limits (NeedsBudgetCheck reads it).
    adaptive_concurrency: bool = False
    # How the targets were found (source, index or live scan, skipped services): shown in the summary.
    notes: dict[str, Any] = Field(default_factory=dict)


class DuplicateRun(_Model):
    """The hub's output for a second execution of a run id another execution is still running: it runs
    nothing, and the state machine ends it (succeeded) at once."""

    run: RunContext
    duplicate_of: str  # the ARN of the execution that runs this run id


class SpokeInput(_Model):
    """One Map item, as the ItemSelector builds it, plus the retry count of this attempt."""

    run: RunContext
    target: Target
    retry_count: int = Field(default=0, ge=0)
    # How many rate-limit waits this target had (a Wait state, then the task again, RetryCount 0 again).
    rate_limit_waits: int = Field(default=0, ge=0)
    # The wave this target runs in ($.wave.index; None from callers that predate waves in the item).
    wave: int | None = Field(default=None, ge=0)

    @property
    def attempt(self) -> int:
        return self.retry_count + 1

    @property
    def first_contact(self) -> bool:
        """The first attempt on this target: no Retry yet and no rate-limit wait (the target was not touched)."""
        return self.retry_count == 0 and self.rate_limit_waits == 0


TerminalStatus = Literal["succeeded", "unchanged", "skipped"]


class OperationResult(_Model):
    """What an operation returns for a target it finished (failures are raised, not returned)."""

    status: TerminalStatus = "succeeded"
    detail: dict[str, Any] = Field(default_factory=dict)


class SpokeResult(_Model):
    run_id: str
    target_id: str
    status: TerminalStatus
    attempts: int
    duration_ms: int
    detail: dict[str, Any] = Field(default_factory=dict)


class FailedTarget(_Model):
    id: str
    error: str
    cause: str
    attempts: int


class DurationStats(_Model):
    """Spoke durations in (simulated) milliseconds; percentiles are within 5 % (log-bucket histogram)."""

    count: int
    min_ms: int | None
    p50_ms: int | None
    p90_ms: int | None
    p99_ms: int | None
    max_ms: int | None


class WaveSummary(_Model):
    """One wave of a run as it ran: its concurrency (and why it changed), its peak, failures and rate limits."""

    index: int
    targets: int
    max_concurrency: int
    # The most of its spokes running at once, from the ledger rows' start and end times.
    peak_concurrency: int
    failed: int
    # Targets that met at least one rate limit (RateLimitError) in this wave.
    rate_limited: int
    # Why adaptive concurrency changed this wave's concurrency from the previous wave's (None: unchanged).
    reason: str | None = None


class Summary(_Model):
    """The run's result, as written to the report and returned to the state machine."""

    run_id: str
    operation: str
    total: int
    succeeded: int
    unchanged: int
    skipped: int
    failed: int
    lost: int
    failure_rate: float
    failure_threshold_percent: float
    outcome: Literal["succeeded", "failed"]
    failures_by_error: dict[str, int]
    attempts_histogram: dict[str, int]
    durations: DurationStats
    failed_targets: list[FailedTarget]
    report: ManifestLocation | None = None
    notes: dict[str, Any] = Field(default_factory=dict)
    waves_run: int = 0
    # What stopped the run before every target ran: the canary, the circuit breaker, or nothing (None).
    stopped_by: Literal["canary", "circuit_breaker"] | None = None
    # Skipped targets by the reason recorded on their row (an operation's skip without one: "no reason given").
    skipped_by_reason: dict[str, int] = Field(default_factory=dict)
    # One entry per wave that ran (summarize/waves.py).
    waves: list[WaveSummary] = Field(default_factory=list)


def nesting_depth(value: Any) -> int:
    """How deep lists and objects nest in `value` (a scalar is 0), counted without recursion."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            todo.extend((v, depth + 1) for v in item)
    return deepest


def field_problems(err: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into 'field.path: message' lines a person can act on."""
    problems = []
    for e in err.errors():
        loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in (prefix, *e["loc"]) if p != "")
        loc = loc.replace(".[", "[")
        problems.append(f"{loc or '(request)'}: {e['msg']}")
    return problems


def parse_run_request(raw: Any) -> RunRequest:
    """Validate a raw run request; raise InvalidRunRequest naming every bad field."""
    if not isinstance(raw, dict):
        raise InvalidRunRequest([f"(request): must be a JSON object, got {type(raw).__name__}"])
    try:
        return RunRequest.model_validate(raw)
    except ValidationError as err:
        raise InvalidRunRequest(field_problems(err)) from None
