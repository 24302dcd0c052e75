"""The operator commands (hubspoke/cli_client.py) on the embedded engine running in the test's process, and
stack discovery against a loopback CloudFormation endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from hubspoke.cli import app
from hubspoke.client.runs import RunClient

pytestmark = pytest.mark.e2e


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _static(n: int) -> str:
    return json.dumps({"type": "static", "targets": [{"id": f"t{i:04d}"} for i in range(n)]})


def _json_tail(output: str) -> Any:
    """The JSON document the command printed last (in-process handlers may have logged lines before it)."""
    output = "\n" + output
    for opener in ("\n{\n", "\n[\n"):
        if opener in output:
            start = output.rindex(opener) + 1
            return json.JSONDecoder().raw_decode(output[start:])[0]
    return json.JSONDecoder().raw_decode(output[output.index("{") :])[0]


def test_rerun_failed_runs_exactly_the_three_failed_of_1000_and_they_succeed_without_the_fault(engine) -> None:
    fail = ["t0007", "t0500", "t0998"]
    first = cli(
        "run",
        "--source-json",
        _static(1000),
        "--params-json",
        json.dumps({"fail_ids": fail}),
        "--run-id",
        "first",
        "--poll-seconds",
        "0.1",
    )
    assert first.exit_code == 1, first.output
    started = time.monotonic()
    again = cli("rerun", "first", "--failed", "--params-json", "{}", "--json", "--poll-seconds", "0.05")
    seconds = time.monotonic() - started
    assert again.exit_code == 0, again.output
    summary = _json_tail(again.output)
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (3, 3, 0)
    rerun_id = summary["run_id"]
    assert sorted(r["target_id"] for r in engine.ledger(rerun_id)) == fail
    print(f"rerun --failed of 3 of 1,000: {seconds:.2f} s real")  # measured, not asserted


def test_follow_attaches_mid_run_and_report_equals_the_printed_summary(engine, monkeypatch) -> None:
    # One spoke is held until `follow` has polled once: it attaches while that target is certainly not done.
    fn = engine.runtime.function(engine.spoke_function)
    real = engine.runtime._load(fn)
    release = threading.Event()

    def held(event: Any, context: Any) -> Any:
        if "t0059" in json.dumps(event):
            release.wait(120)
        return real(event, context)

    fn.handler = held
    client = RunClient(engine.deployment())
    params = {"fail_ids": ["t0001"]}
    run_id = client.start({"run_id": "mid", "operation": "noop", "params": params, "source": json.loads(_static(60))})
    while client.progress(run_id).total is None:
        pass
    polled = RunClient.progress

    def poll_then_release(self: RunClient, run: str) -> Any:
        progress = polled(self, run)
        release.set()
        return progress

    monkeypatch.setattr(RunClient, "progress", poll_then_release)
    try:
        followed = cli("follow", run_id, "--poll-seconds", "0.05")
    finally:
        fn.handler = real
        release.set()
    assert followed.exit_code == 1, followed.output
    lines = [line for line in followed.output.splitlines() if line.startswith("RUNNING: ")]
    first_done = int(lines[0].split()[1].split("/")[0])
    assert first_done < 60  # attached mid-run
    reported = cli("report", run_id)
    assert reported.exit_code == 1
    # The summary table `follow` printed at the end is exactly what `report` prints.
    assert followed.output.endswith(reported.output)
    assert "Run mid: FAILED" in reported.output
    as_json = cli("report", run_id, "--json")
    assert _json_tail(as_json.output) == json.loads(json.dumps(client.summary(run_id), default=str))


def test_runs_lists_runs_with_totals_and_stop_stops_a_run(engine) -> None:
    assert cli("run", "--source-json", _static(5), "--run-id", "small", "--poll-seconds", "0.05").exit_code == 0
    # The long run's spokes are held until it has been stopped.
    fn = engine.runtime.function(engine.spoke_function)
    real = engine.runtime._load(fn)
    release = threading.Event()

    def held(event: Any, context: Any) -> Any:
        release.wait(120)
        return real(event, context)

    fn.handler = held
    client = RunClient(engine.deployment())
    client.start({"run_id": "long", "operation": "noop", "params": {}, "source": json.loads(_static(5))})
    while client.progress("long").total is None:
        pass
    try:
        stopped = cli("stop", "long")
    finally:
        release.set()
        fn.handler = real
    assert stopped.exit_code == 0, stopped.output
    # moto ends the execution when its running states return (the held spokes, released above).
    deadline = time.monotonic() + 60
    while client.describe("long")["status"] == "RUNNING" and time.monotonic() < deadline:
        pass
    assert client.describe("long")["status"] == "ABORTED"
    listed = cli("runs", "--json")
    assert listed.exit_code == 0
    runs = {r["run_id"]: r for r in _json_tail(listed.output)}
    assert runs["small"]["status"] == "SUCCEEDED"
    assert runs["small"]["totals"]["succeeded"] == 5
    assert runs["long"]["status"] == "ABORTED"


def test_params_json_at_file_is_read(engine, tmp_path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"fail_ids": ["t0000"]}))
    result = cli("run", "--source-json", _static(2), "--params-json", f"@{params}", "--json", "--poll-seconds", "0.05")
    assert result.exit_code == 1
    assert [f["id"] for f in _json_tail(result.output)["failed_targets"]] == ["t0000"]


# -- discovery of a deployed stack (a loopback CloudFormation endpoint, as boto3 reaches it) -------------------

NOT_FOUND = (
    '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
    "<Code>ValidationError</Code><Message>Stack with id {name} does not exist</Message></Error>"
    "<RequestId>r</RequestId></ErrorResponse>"
)


@pytest.fixture
def cloudformation(monkeypatch) -> Iterator[list[str]]:
    """A loopback CloudFormation that knows no stack; the requests it received."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append(body)
            name = dict(p.split("=", 1) for p in body.split("&")).get("StackName", "")
            payload = NOT_FOUND.format(name=name).encode()
            self.send_response(400)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", f"http://127.0.0.1:{server.server_port}")
    try:
        yield received
    finally:
        server.shutdown()


def test_a_missing_stack_is_one_line_and_exit_2(cloudformation) -> None:
    result = cli("runs", "--stack", "Nope", "--region", "eu-west-1")
    assert result.exit_code == 2
    assert "stack 'Nope' not found in eu-west-1" in result.output
    assert "Action=DescribeStacks" in cloudformation[0]


def test_no_credentials_is_one_line_and_exit_2(cloudformation, monkeypatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata request off the machine
    result = cli("report", "r1", "--stack", "HubSpoke", "--region", "us-east-1")
    assert result.exit_code == 2
    assert result.output.startswith("no AWS credentials")
    assert cloudformation == []  # nothing was sent unsigned


def test_a_run_that_is_neither_running_nor_kept_is_one_line_and_exit_2(
    tmp_path, synth_cache, stack, monkeypatch
) -> None:
    # Without --stack and without an engine here, a command reads the embedded engine's kept runs (none here).
    home = tmp_path / "home"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    monkeypatch.setenv("HUBSPOKE_HOME", str(home))
    result = cli("report", "r1")
    assert result.exit_code == 2
    assert result.output.startswith("no run 'r1' in the embedded engine's kept runs")
    assert len(result.output.strip().splitlines()) == 1
