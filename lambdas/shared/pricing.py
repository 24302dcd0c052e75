"""What a run costs on AWS: one dated table of published prices and the counts a run makes of each priced unit.

Prices are us-east-1 list prices (USD), free tiers ignored: an estimate for a bill, not a quote. Counts are
for a run in which every target succeeds at the first attempt; retries, waits and failures add to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICES_AS_OF = "2026-11"
PRICES_REGION = "us-east-1"
# Step Functions Standard: $0.025 per 1,000 state transitions.
STATE_TRANSITION_USD = 0.025 / 1_000
# Lambda (x86_64): $0.20 per 1M requests, $0.0000166667 per GB-second.
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
LAMBDA_GB_SECOND_USD = 0.0000166667
# DynamoDB on demand: $0.625 per million write request units, $0.125 per million read request units.
DYNAMODB_WRITE_UNIT_USD = 0.625 / 1_000_000
DYNAMODB_READ_UNIT_USD = 0.125 / 1_000_000
# S3 Standard: PUT/COPY/POST/LIST $0.005 per 1,000 requests, GET $0.0004 per 1,000.
S3_PUT_USD = 0.005 / 1_000
S3_GET_USD = 0.0004 / 1_000

# State transitions of a succeeding run, counted on stacks/workflow/ (tests/infrastructure/test_plan_costs.py walks
# the synthesized definition and checks each number):
# per target: the child execution the Distributed Map starts (billed as one transition) and its Spoke task.
TRANSITIONS_PER_TARGET = 2
# per wave: SelectWave, NeedsBudgetCheck, Spokes (the Map state), AdvanceWave, MoreWaves.
TRANSITIONS_PER_WAVE = 5
# between two waves: WavePause.
TRANSITIONS_PER_WAVE_PAUSE = 1
# per wave of an operation with an API budget, or of a run with adaptive concurrency: CheckBudget and BudgetAllows
# (one check that lets the wave go).
TRANSITIONS_PER_BUDGET_CHECK = 2
# per run with a canary (and waves after it): ReadCanaryFailures and CanaryVerdict after wave 0 (its CanaryPause
# takes that pause's WavePause's place).
TRANSITIONS_PER_CANARY = 2
# per run: Hub, DryRun, DuplicateDelivery, AnyTargets, Summarize, RunOutcome, RunSucceeded.
TRANSITIONS_PER_RUN = 7

# Lambda durations assumed for the functions around the spokes (each operation states its own spoke's):
# the hub seeds 25 rows per BatchWriteItem; Summarize queries the ledger 1,000 rows a page.
HUB_SECONDS = 1.0
HUB_SECONDS_PER_TARGET = 0.0005
SUMMARIZE_SECONDS = 1.0
SUMMARIZE_SECONDS_PER_TARGET = 0.0002
GATE_SECONDS = 0.5
# A finished ledger row (run id, target id, status, attempts, duration, detail, times) is well under 1 KB: one
# write unit per write. Summarize reads rows strongly consistent: one read unit per 4 KB.
LEDGER_ROW_BYTES = 256
READ_UNIT_BYTES = 4096
# Not counted: free tiers, CloudWatch Logs and metrics, X-Ray, data transfer, retries, discovery's own calls.
NOT_COUNTED = "free tiers, retries and waits, CloudWatch Logs/metrics, X-Ray, data transfer, discovery's own reads"


@dataclass(frozen=True)
class RunShape:
    """What the estimate needs to know of a run."""

    targets: int
    waves: int
    budget_check: bool
    spoke_seconds: float
    memory_mb: int
    # A canary judged before the other waves (only when waves follow it).
    canary: bool = False
    # The gate sets each wave's concurrency (only when there is more than one wave).
    adaptive: bool = False


@dataclass(frozen=True)
class Usage:
    """The priced units one run uses."""

    state_transitions: int
    lambda_requests: int
    lambda_gb_seconds: float
    dynamodb_write_units: int
    dynamodb_read_units: int
    s3_puts: int
    s3_gets: int


def usage(run: RunShape) -> Usage:
    """Count what a run of this shape uses when every target succeeds at the first attempt."""
    checks = run.waves if run.budget_check or run.adaptive else 0
    # The run's counters item: seeded by the hub (canary, adaptive); read by the canary's verdict once, and by the
    # gate before every wave after the first, which records each wave's concurrency.
    counters = run.canary or run.adaptive
    counter_reads = (1 if run.canary else 0) + (max(run.waves - 1, 0) if run.adaptive else 0)
    counter_writes = (1 if counters else 0) + (run.waves if run.adaptive else 0)
    transitions = (
        TRANSITIONS_PER_RUN
        + (TRANSITIONS_PER_CANARY if run.canary else 0)
        + run.waves * TRANSITIONS_PER_WAVE
        + max(run.waves - 1, 0) * TRANSITIONS_PER_WAVE_PAUSE
        + checks * TRANSITIONS_PER_BUDGET_CHECK
        + run.targets * TRANSITIONS_PER_TARGET
    )
    seconds = (
        HUB_SECONDS
        + HUB_SECONDS_PER_TARGET * run.targets
        + SUMMARIZE_SECONDS
        + SUMMARIZE_SECONDS_PER_TARGET * run.targets
        + GATE_SECONDS * checks
        + run.spoke_seconds * run.targets
    )
    return Usage(
        state_transitions=transitions,
        lambda_requests=2 + checks + run.targets,  # hub, summarize, the gate's checks, one spoke per target
        lambda_gb_seconds=seconds * run.memory_mb / 1024,
        # the run-id claim; each target's pending row (seed) and finished row (spoke); the counters item
        dynamodb_write_units=1 + 2 * run.targets + counter_writes,
        dynamodb_read_units=math.ceil(run.targets * LEDGER_ROW_BYTES / READ_UNIT_BYTES) + counter_reads,
        # hub: the manifest and one per wave; the Map's ResultWriter: its manifest and a results file per wave;
        # Summarize: the report
        s3_puts=1 + run.waves + 2 * run.waves + 1,
        s3_gets=run.waves,  # the Map's ItemReader reads its wave's manifest
    )


def cost_usd(used: Usage) -> dict[str, float]:
    """Each service's cost and the total, in USD."""
    costs = {
        "step_functions": used.state_transitions * STATE_TRANSITION_USD,
        "lambda": used.lambda_requests * LAMBDA_REQUEST_USD + used.lambda_gb_seconds * LAMBDA_GB_SECOND_USD,
        "dynamodb": used.dynamodb_write_units * DYNAMODB_WRITE_UNIT_USD
        + used.dynamodb_read_units * DYNAMODB_READ_UNIT_USD,
        "s3": used.s3_puts * S3_PUT_USD + used.s3_gets * S3_GET_USD,
    }
    return {**costs, "total": sum(costs.values())}
