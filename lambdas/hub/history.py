"""How many waves one execution can run inside Step Functions' history quota of 25,000 events.

The parent execution records every state it passes; a Distributed Map's children have histories of their own. The
counts below are the events of the workflow's worst path without Task retries (stacks/workflow.py), counted on
the local engine's history (tests/e2e/test_history_quota.py checks them); task retries, discovery waits and any
later states are covered by keeping a fifth of the quota spare.
"""

from __future__ import annotations

from shared.budget import MAX_CHECKS

HISTORY_EVENT_QUOTA = 25_000
USABLE_EVENTS = HISTORY_EVENT_QUOTA * 4 // 5  # a fifth spare: Task retries (3 events each), discovery waits
# ExecutionStarted, Hub (Task: 5), DryRun (2), DuplicateDelivery (2), AnyTargets (2), Summarize (5),
# RunOutcome (2), RunSucceeded|RunFailed (2), the execution's end (1).
EVENTS_PER_RUN = 22
# WavePause (2), SelectWave (2), NeedsBudgetCheck (2), Spokes (Map: entered, started, Map Run started and
# succeeded, succeeded, exited: 6), AdvanceWave (2), MoreWaves (2).
EVENTS_PER_WAVE = 16
# CheckBudget (Task: 5) and BudgetAllows (2) per check; WaitForBudget (2) between checks.
EVENTS_PER_CHECK = 7
EVENTS_PER_BUDGET_WAIT = 2
# A canary's verdict after wave 0, once per run: ReadCanaryFailures (Task: 5), CanaryVerdict (2); its CanaryPause
# takes the WavePause's place.
EVENTS_PER_CANARY = 7


def events_per_wave(budget_check: bool, *, adaptive: bool = False) -> int:
    """A wave's events on its worst path: with a budget, MAX_CHECKS waits and one check more; with adaptive
    concurrency and no budget, one check (the gate sets the wave's concurrency and never waits)."""
    if budget_check:
        return EVENTS_PER_WAVE + (MAX_CHECKS + 1) * EVENTS_PER_CHECK + MAX_CHECKS * EVENTS_PER_BUDGET_WAIT
    return EVENTS_PER_WAVE + (EVENTS_PER_CHECK if adaptive else 0)


def max_waves(budget_check: bool, *, canary: bool = False, adaptive: bool = False) -> int:
    """The most waves a run can have and stay inside the history quota, spare included."""
    spare = USABLE_EVENTS - EVENTS_PER_RUN - (EVENTS_PER_CANARY if canary else 0)
    return spare // events_per_wave(budget_check, adaptive=adaptive)
