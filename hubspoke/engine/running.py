"""Running executions on the local engine: one run or several at once, waited for, stopped on Ctrl-C, measured."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from hubspoke.engine.output import OutputRouter, stdout_routed
from hubspoke.engine.records import Progress, RunRecords, RunResult
from hubspoke.engine.shutdown import halt_handlers

ProgressCallback = Callable[[Progress], None]


# The poll interval is at least this many times the last poll's cost.
POLL_SHARE = 30


class Executions(RunRecords):
    """Starting and waiting for the state machine's executions (LocalEngine's, which sets these attributes)."""

    STOP_GRACE_SECONDS = 1.5  # real seconds a stopped run gives its threads to notice and end
    state_machine_arn: str
    spoke_function: str
    time_scale: float
    _router: OutputRouter | None
    _halt: threading.Event
    _interrupt_requested: bool

    @property
    def sfn(self) -> Any:
        return self._clients["stepfunctions"]

    def interrupt(self) -> None:
        """Ask the running `run` to stop (safe from a signal handler: it only sets a flag the run polls)."""
        self._interrupt_requested = True

    def _halt_handlers(self) -> None:
        halt_handlers(self.runtime, self._halt, self.STOP_GRACE_SECONDS)

    def run(
        self,
        request: Any,
        *,
        on_progress: ProgressCallback | None = None,
        poll_seconds: float = 0.1,
        execution_name: str | None = None,
    ) -> RunResult:
        """Start one execution (named after the run unless told) and wait for it; `on_progress` runs here.

        Execution names are unique, as in Step Functions: the same name again, while it runs or after it
        ended, returns that execution and runs nothing twice.
        """
        # Bad requests are run too (the hub refuses them), so do not assume a shape here.
        with stdout_routed(self._router):
            return self._run(request, on_progress=on_progress, poll_seconds=poll_seconds, execution_name=execution_name)

    def run_together(self, requests: list[Any], *, poll_seconds: float = 0.1) -> list[RunResult]:
        """Start one execution per request at once, each named after its run, as triggers that fire together
        would, and wait for all of them; the results in the requests' order. The spoke is one function, so each
        result's peak_concurrency, spoke_invocations, spoke_cpu_ms and durations are those of all the runs together."""
        with stdout_routed(self._router):
            mark = self._mark()
            started = [self._start_execution(request, None) for request in requests]
            ended: dict[str, dict[str, Any]] = {}
            while not self._interrupt_requested:
                for _, arn in started:
                    if (
                        arn not in ended
                        and (desc := self.sfn.describe_execution(executionArn=arn))["status"] != "RUNNING"
                    ):
                        ended[arn] = desc
                if len(ended) == len(started):
                    break
                self._sleep_unless_interrupted(poll_seconds)
            running = [arn for _, arn in started if arn not in ended]
            if running:  # a Ctrl-C stops every run still running, then the handlers once
                self._stop_executions(running)
                ended.update({arn: self.sfn.describe_execution(executionArn=arn) for arn in running})
            interrupted = self._interrupt_requested
            return [self._result(run_id, arn, ended[arn], mark, interrupted=interrupted) for run_id, arn in started]

    def _run(
        self, request: Any, *, on_progress: ProgressCallback | None, poll_seconds: float, execution_name: str | None
    ) -> RunResult:
        mark = self._mark()
        if on_progress is not None:
            self.progress_reader()  # its clients, made before the first poll is timed
        run_id, arn = self._start_execution(request, execution_name)
        interval = poll_seconds
        interrupted = False
        while True:
            if self._interrupt_requested and not interrupted:
                interrupted = True
                self._stop_execution(arn)
            desc = self.sfn.describe_execution(executionArn=arn)
            if on_progress is not None and not interrupted:  # a stopped run has no progress to show
                cpu = time.thread_time()
                on_progress(self.progress(run_id, arn))
                # A poll's CPU is taken from the spokes (one GIL): spend at most a thirtieth of the time on it. CPU,
                # not wall time: a poll waits for the GIL among the spokes, and waiting costs them nothing.
                interval = max(poll_seconds, POLL_SHARE * (time.thread_time() - cpu))
            if desc["status"] != "RUNNING" or interrupted:
                break
            self._sleep_unless_interrupted(interval)
        return self._result(run_id, arn, desc, mark, interrupted=interrupted)

    def _mark(self) -> tuple[int, float, int, float]:
        """Where the spoke's counters, the EMF records and the clock stand as runs start; the peak starts anew."""
        spoke_stats = self.runtime.function(self.spoke_function).stats
        spoke_stats.peak_concurrency = spoke_stats.active
        emf = len(self._router.emf) if self._router else 0
        return spoke_stats.invocations, spoke_stats.cpu_seconds, emf, time.monotonic()

    def _start_execution(self, request: Any, execution_name: str | None) -> tuple[str, str]:
        """Start the request's execution; its run id and execution ARN."""
        given = request.get("run_id") if isinstance(request, dict) else None
        run_id = str(given or execution_name or f"run-{uuid.uuid4().hex[:12]}")
        name = execution_name or run_id
        try:
            arn = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(request)
            )["executionArn"]
        except self.sfn.exceptions.ExecutionAlreadyExists:
            # A delivery of a run that already ran (Step Functions keeps names unique): report it, run nothing.
            arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return run_id, str(arn)

    def _result(
        self, run_id: str, arn: str, desc: dict[str, Any], mark: tuple[int, float, int, float], *, interrupted: bool
    ) -> RunResult:
        invocations, cpu_seconds, emf, started = mark
        spoke_stats = self.runtime.function(self.spoke_function).stats
        real = time.monotonic() - started
        return RunResult(
            run_id=run_id,
            execution_arn=arn,
            status=desc["status"],
            error=desc.get("error"),
            cause=desc.get("cause"),
            summary=self.report(run_id),
            real_seconds=real,
            simulated_seconds=real / self.time_scale,
            peak_concurrency=spoke_stats.peak_concurrency,
            spoke_invocations=spoke_stats.invocations - invocations,
            spoke_cpu_ms=(spoke_stats.cpu_seconds - cpu_seconds) * 1000,
            emf=self._router.emf[emf:] if self._router else [],
            interrupted=interrupted,
        )

    def _sleep_unless_interrupted(self, seconds: float) -> None:
        # Short steps: a signal handler's flag is seen within 50 ms, whatever the poll interval has grown to.
        end = time.monotonic() + seconds
        while not self._interrupt_requested and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))

    def _stop_execution(self, arn: str) -> None:
        """Stop the execution as StopExecution does, and the handlers with it."""
        self._stop_executions([arn])

    def _stop_executions(self, arns: list[str]) -> None:
        from botocore.exceptions import ClientError

        for arn in arns:
            with contextlib.suppress(ClientError):  # it may have ended on its own meanwhile
                self.sfn.stop_execution(executionArn=arn, error="Interrupted", cause="stopped by the person running it")
        self._halt_handlers()
