"""The embedded engine keeps its runs (adaptation `kept-runs`): `hubspoke runs`, `report`, `rerun --failed` and
`follow` without --stack work across invocations, each a process of its own, as against a deployed stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hubspoke.cli import app
from hubspoke.engine import LocalEngine

pytestmark = pytest.mark.e2e

FAILING = ["t0003", "t0011", "t0017"]


def _json_tail(output: str) -> Any:
    """The JSON document the command printed last (in-process handlers may have logged lines before it)."""
    start = output.rindex("\n{\n") + 1 if "\n{\n" in output else output.index("{")
    return json.JSONDecoder().raw_decode(output[start:])[0]


def _static(n: int) -> str:
    return json.dumps({"type": "static", "targets": [{"id": f"t{i:04d}"} for i in range(n)]})


@pytest.fixture
def home(tmp_path: Path, synth_cache: Path, stack: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HUBSPOKE_HOME sharing the session's synth cache (filled by `stack`); the working folder beside it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    monkeypatch.setenv("HUBSPOKE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def hubspoke(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`hubspoke ARGS` in a process of its own (a new invocation: nothing shared but HUBSPOKE_HOME)."""
    env = {**os.environ, "HUBSPOKE_HOME": str(home)}
    cmd = [sys.executable, "-m", "hubspoke", *args]
    return subprocess.run(cmd, check=False, cwd=home.parent, env=env, capture_output=True, text=True, timeout=300)


def test_runs_report_and_rerun_failed_in_new_processes_answer_the_kept_run(home: Path) -> None:
    # GIVEN a run of 20 targets, 3 of them failing, in a process of its own
    first = hubspoke(
        home, "run", "--source-json", _static(20), "--params-json", json.dumps({"fail_ids": FAILING}),
        "--run-id", "first", "--json", "--poll-seconds", "0.1",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    printed = json.loads(first.stdout)
    assert (printed["total"], printed["succeeded"], printed["failed"]) == (20, 17, 3)

    # WHEN a new process lists the runs THEN it shows the run with its totals
    listed = hubspoke(home, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert (run["run_id"], run["status"]) == ("first", "FAILED")
    assert run["totals"] == {"total": 20, "succeeded": 17, "unchanged": 0, "skipped": 0, "failed": 3, "lost": 0}

    # AND a new process's report equals the summary the run printed
    reported = hubspoke(home, "report", "first", "--json")
    assert reported.returncode == 1, reported.stderr
    assert json.loads(reported.stdout) == printed

    # AND a new process reruns exactly the 3 failed targets, which succeed without the fault
    again = hubspoke(home, "rerun", "first", "--failed", "--params-json", "{}", "--json", "--poll-seconds", "0.1")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (3, 3, 0)
    rows = json.loads((home / "runs" / summary["run_id"] / "ledger.json").read_text())
    assert sorted(r["target_id"] for r in rows) == FAILING
    assert {r["status"] for r in rows} == {"succeeded"}

    # AND its run id stays taken, as an execution name on AWS: another request under it is one line, exit 2
    taken = hubspoke(home, "run", "--source-json", _static(1), "--run-id", "first")
    assert taken.returncode == 2, taken.stderr
    assert taken.stderr.strip().endswith(
        "run first exists already: choose another --run-id (`hubspoke report first` shows it)"
    )

    # AND both runs are listed by the next process, newest first
    both = json.loads(hubspoke(home, "runs", "--json").stdout)
    assert [r["run_id"] for r in both] == [summary["run_id"], "first"]


def _held_until_followed(
    monkeypatch: pytest.MonkeyPatch, release: threading.Event | None = None
) -> tuple[threading.Event, threading.Event]:
    """In every engine started from now on: spokes wait until another process has described the run over the
    engine's loopback server (a request thread of the server, not this process's own client), or, given
    `release`, until that is set. Returns (a spoke is waiting, a follower has attached)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    waiting, attached = threading.Event(), threading.Event()
    enter = LocalEngine.__enter__

    def entered(self: LocalEngine) -> LocalEngine:
        engine = enter(self)
        fn = engine.runtime.function(engine.spoke_function)
        real = engine.runtime._load(fn)

        def held(event: Any, context: Any) -> Any:
            waiting.set()
            (release or attached).wait(120)
            return real(event, context)

        fn.handler = held
        backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
        describe = backend.describe_execution

        def described(execution_arn: str) -> Any:
            # The loopback server answers each request in a thread of socketserver's ThreadingMixIn.
            if threading.current_thread().name.endswith("(process_request_thread)"):
                attached.set()
            return describe(execution_arn)

        vars(backend)["describe_execution"] = described  # on this engine's backend, until it closes
        engine._exit.callback(vars(backend).pop, "describe_execution", None)
        return engine

    monkeypatch.setattr(LocalEngine, "__enter__", entered)
    return waiting, attached


# `python -m hubspoke ARGS` with Ctrl-C raising KeyboardInterrupt, as in a terminal's foreground job: a suite started
# in the background (`pytest &`) ignores SIGINT, children inherit that, and Python then installs no handler (the
# follower ran 120 s past its Ctrl-C).
AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'hubspoke'; runpy.run_module('hubspoke', run_name='__main__')"
)


def _wait_for(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_follow_from_another_process_attaches_to_a_running_run_and_prints_its_summary(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting, attached = _held_until_followed(monkeypatch)
    ran: dict[str, Any] = {}

    def run() -> None:
        ran["result"] = CliRunner().invoke(
            app,
            ["run", "--source-json", _static(6), "--params-json", '{"fail_ids": ["t0002"]}', "--run-id", "watched",
             "--json", "--poll-seconds", "0.05"],
        )  # fmt: skip

    # GIVEN a run held mid-way (its spokes wait) in this process's engine, which serves it on loopback
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    _wait_for(waiting.is_set)
    assert json.loads((home / "engine.json").read_text())["pid"] == os.getpid()
    # WHEN another process follows it
    follower = subprocess.Popen(
        [sys.executable, "-m", "hubspoke", "follow", "watched", "--json", "--poll-seconds", "0.05"],
        cwd=home.parent,
        env={**os.environ, "HUBSPOKE_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = follower.communicate(timeout=300)
    runner.join(300)
    # THEN it attached while the run was running (the spokes waited for it) and printed the run's summary
    assert attached.is_set()
    result = ran["result"]
    assert result.exit_code == 1, result.output
    assert follower.returncode == 1, err
    assert json.loads(out) == _json_tail(result.output)
    # AND the engine is gone: engine.json with it, the run kept
    assert not (home / "engine.json").exists()
    assert (home / "runs" / "watched" / "execution.json").exists()


def _kept(home: Path, run_id: str, started: datetime) -> Path:
    run_dir = home / "runs" / run_id
    run_dir.mkdir(parents=True)
    execution = {"name": run_id, "status": "SUCCEEDED", "startDate": started.isoformat(), "input": "{}"}
    (run_dir / "execution.json").write_text(json.dumps(execution))
    return run_dir


def test_runs_prune_removes_kept_runs_older_than_the_days_given(home: Path) -> None:
    now = datetime.now(UTC)
    old = _kept(home, "old", now - timedelta(days=10))
    older = _kept(home, "older", now - timedelta(days=40))
    recent = _kept(home, "recent", now - timedelta(days=2))
    result = CliRunner().invoke(app, ["runs", "--prune", "7"])
    assert result.exit_code == 0, result.output
    assert "removed 2 kept run(s) older than 7 days" in result.output
    assert (old.exists(), older.exists(), recent.exists()) == (False, False, True)


def test_runs_prune_is_for_the_embedded_engine_only(home: Path) -> None:
    result = CliRunner().invoke(app, ["runs", "--prune", "7", "--stack", "HubSpoke"])
    assert result.exit_code == 2
    assert "--prune removes the embedded engine's kept runs" in result.output


def test_a_run_stopped_with_ctrl_c_is_kept_as_aborted_with_the_rows_it_wrote(stack: Any, tmp_path: Path) -> None:
    # GIVEN an engine whose spokes wait, and a run of 4 targets under way
    waiting, release = threading.Event(), threading.Event()
    home = tmp_path / "home"
    with LocalEngine(stack, log_path=tmp_path / "lambda.log", state_dir=home) as engine:
        fn = engine.runtime.function(engine.spoke_function)
        real = engine.runtime._load(fn)

        def held(event: Any, context: Any) -> Any:
            waiting.set()
            release.wait(120)
            return real(event, context)

        fn.handler = held
        request = {"run_id": "stopped", "operation": "noop", "params": {}, "source": json.loads(_static(4))}
        results: list[Any] = []
        runner = threading.Thread(target=lambda: results.append(engine.run(request, poll_seconds=0.02)))
        runner.start()
        _wait_for(waiting.is_set)
        # WHEN the person presses Ctrl-C (the CLI's signal handler calls interrupt)
        engine.interrupt()
        runner.join(120)
        release.set()
    # THEN the run was kept, stopped, with the ledger rows the hub wrote
    assert results[0].interrupted
    stored = json.loads((home / "runs" / "stopped" / "execution.json").read_text())
    assert stored["status"] == "ABORTED"
    assert stored["stopDate"] is not None
    rows = json.loads((home / "runs" / "stopped" / "ledger.json").read_text())
    assert sorted(r["target_id"] for r in rows) == ["t0000", "t0001", "t0002", "t0003"]


class _ClosingServer:
    """A loopback port that accepts connections and closes them unanswered: an engine's server going away."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.requests += 1
            conn.close()


def test_follow_whose_engine_ends_reads_the_kept_run_and_prints_its_summary(
    stack: Any, home: Path, tmp_path: Path
) -> None:
    # GIVEN a run kept by an engine that has ended
    request = {
        "run_id": "ended",
        "operation": "noop",
        "params": {"fail_ids": ["t0001"]},
        "source": json.loads(_static(3)),
    }
    with LocalEngine(stack, log_path=tmp_path / "lambda.log", state_dir=home) as engine:
        engine.run(request)
    reported = CliRunner().invoke(app, ["report", "ended", "--json"])
    # AND an engine.json naming a live process whose server closes every connection (it is shutting down)
    server = _ClosingServer()
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        engine_file = {"endpoint": f"http://127.0.0.1:{server.port}", "pid": holder.pid, **engine.deployment().names()}
        (home / "engine.json").write_text(json.dumps(engine_file))
        # WHEN follow attaches to it
        followed = CliRunner().invoke(app, ["follow", "ended", "--json", "--poll-seconds", "0"])
    finally:
        holder.communicate(b"")
        server.sock.close()
    assert reported.exit_code == 1, reported.output
    # THEN it tried the served engine, then printed the kept run's summary, as report does
    assert followed.exit_code == 1, (followed.output, repr(followed.exception))
    assert server.requests > 0
    assert _json_tail(followed.output) == _json_tail(reported.output)


def test_plan_prints_the_plan_writes_no_row_and_a_bad_request_exits_2(home: Path, tmp_path: Path) -> None:
    # GIVEN a targets file of 3 targets
    (tmp_path / "t.csv").write_text("id,team\nsvc-a,x\nsvc-b,y\nsvc-c,y\n")
    # WHEN `hubspoke plan` runs on the embedded engine
    planned = hubspoke(home, "plan", "--targets-file", "t.csv", "--run-id", "p1", "--wave-size", "2", "--json")
    # THEN it prints the plan (3 targets in waves of 2) and exits 0
    assert planned.returncode == 0, planned.stderr
    found = _json_tail(planned.stdout)
    assert (found["count"], found["waves"]["count"], found["first_targets"]) == (3, 2, ["svc-a", "svc-b", "svc-c"])
    assert found["cost"]["usd"]["total"] > 0
    # AND the kept run has no ledger row (a plan writes nothing but itself)
    assert json.loads((home / "runs" / "p1" / "ledger.json").read_text()) == []
    # AND a plan the hub refuses is one line naming the field, exit 2
    refused = hubspoke(home, "plan", "--targets-file", "t.csv", "--params-json", '{"sleep_ms": "soon"}')
    assert refused.returncode == 2
    assert "InvalidRunRequest" in refused.stderr
    assert "params.sleep_ms" in refused.stderr


def test_an_engine_is_found_by_its_stack_outputs_as_a_deployed_stack_is(home: Path, stack: Any) -> None:
    # GIVEN an engine that ran a run (1 of 3 targets failing) and serves its AWS APIs on loopback
    request = {
        "run_id": "seen",
        "operation": "noop",
        "params": {"fail_ids": ["b"]},
        "source": {"type": "static", "targets": [{"id": "a"}, {"id": "b"}, {"id": "c"}]},
    }
    with LocalEngine(stack, log_path=home / "engine.log", state_dir=home) as engine:
        printed = engine.run(request).summary
        endpoint = json.loads((home / "engine.json").read_text())["endpoint"]
        # WHEN another process operates it with --stack, as it would a deployed stack: AWS_ENDPOINT_URL and any
        # credentials, no HUBSPOKE_HOME of its engine
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "operator",
            "AWS_SECRET_ACCESS_KEY": "operator",
            "HUBSPOKE_HOME": str(home.parent / "elsewhere"),
        }
        cmd = [sys.executable, "-m", "hubspoke", "report", "seen", "--stack", "HubSpoke", "--region", "us-east-1"]
        found = subprocess.run(
            [*cmd, "--json"], check=False, env=env, capture_output=True, text=True, timeout=300, cwd=home.parent
        )
    # THEN DescribeStacks found the stack's outputs and the report is the summary the run printed
    assert printed is not None
    assert found.returncode == 1, found.stderr
    report = _json_tail(found.stdout)
    assert (report["total"], report["failed"], report["outcome"]) == (3, 1, "failed")
    assert report["failed_targets"] == printed["failed_targets"]
    # AND the engine's stack record names exactly the outputs the synthesized template declares
    # (the function roles a target account's HubSpokeTargetRole trusts, too)
    assert set(stack.template["Outputs"]) == {
        "StateMachineArn",
        "BucketName",
        "LedgerTableName",
        "AlarmTopicArn",
        "HubRoleArn",
        "SpokeRoleArn",
        "IndexerRoleArn",
        "TrustedRoleArns",
    }


def test_ctrl_c_on_follow_detaches_and_the_run_goes_on(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    # GIVEN a run whose spokes wait until the test releases them, in this process's engine (served on loopback)
    release = threading.Event()
    waiting, attached = _held_until_followed(monkeypatch, release)
    ran: dict[str, Any] = {}

    def run() -> None:
        ran["result"] = CliRunner().invoke(
            app, ["run", "--source-json", _static(4), "--run-id", "detached", "--json", "--poll-seconds", "0.05"]
        )

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        _wait_for(waiting.is_set)
        follower = subprocess.Popen(
            [sys.executable, "-c", AS_IN_A_TERMINAL, "follow", "detached", "--poll-seconds", "0.05"],
            cwd=home.parent,
            env={**os.environ, "HUBSPOKE_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(attached.is_set)
        # WHEN the person presses Ctrl-C in the following terminal (a real SIGINT)
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=120)
        # THEN follow detaches with one line, exit 130, and says how to stop the run
        assert follower.returncode == 130, err
        assert "detached from run detached; it goes on (`hubspoke stop detached` stops it)" in err
        assert runner.is_alive()  # the run did not stop
    finally:
        release.set()
        runner.join(300)
    # AND the run goes on to its end
    result = ran["result"]
    assert result.exit_code == 0, result.output
    assert _json_tail(result.output)["succeeded"] == 4
