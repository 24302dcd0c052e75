"""`hubspoke local run`: flags, exit codes (0 succeeded, 1 failed, 2 bad input) and the JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WATCH_OPTIONS
from tests.e2e.conftest import hold_spokes_of_every_engine

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def test_failed_run_exits_1_and_writes_the_summary_json(cli, tmp_path, monkeypatch):
    # GIVEN 5 targets under the default cap of 10 (cdk.json), held until all 5 run: their peak is certain
    hold_spokes_of_every_engine(monkeypatch, 5)
    params = {"fail_ids": ["target-0002"], "rate_limit_ids": ["target-0003"], "rate_limit_times": 2}
    result = cli(
        "--targets", "5", "--params-json", json.dumps(params), "--summary-json", "out.json", "--run-id", "cli-run"
    )
    assert result.exit_code == 1, result.output
    summary = json.loads((tmp_path / "out.json").read_text())
    assert {k: summary[k] for k in ("run_id", "total", "succeeded", "failed", "skipped", "lost", "outcome")} == {
        "run_id": "cli-run",
        "total": 5,
        "succeeded": 4,
        "failed": 1,
        "skipped": 0,
        "lost": 0,
        "outcome": "failed",
    }
    assert summary["failure_rate"] == 20.0
    assert summary["failed_targets"] == [
        {
            "id": "target-0002",
            "error": "TargetError",
            "cause": "injected permanent failure for target-0002",
            "attempts": 1,
        }
    ]
    assert summary["attempts"]["target-0003"] == 3
    assert summary["peak_concurrency"] == 5  # every target at once: 5 targets, under the cap of 10
    assert summary["durations"]["time_scale"] == 0.01
    assert "FAILED" in result.output
    assert "target-0002" in result.output


def test_threshold_flag_makes_the_same_run_succeed(cli):
    params = {"fail_ids": ["target-0002"]}
    result = cli("--targets", "5", "--params-json", json.dumps(params), "--failure-threshold", "20")
    assert result.exit_code == 0, result.output


def test_concurrency_flag_is_honoured(cli, tmp_path, monkeypatch):
    # The first 3 spokes wait until all 3 run: the peak does not depend on how fast this machine starts them.
    hold_spokes_of_every_engine(monkeypatch, 3)
    result = cli(
        "--targets", "30", "--params-json", '{"sleep_ms": 2000}', "--max-concurrency", "3", "--summary-json", "s.json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["peak_concurrency"] == 3


@pytest.mark.parametrize(
    ("name", "body"), [("t.json", [{"id": "a"}, {"id": "b", "team": "x"}]), ("t.csv", "id,team\na,x\nb,y\n")]
)
def test_targets_file_json_and_csv(cli, tmp_path, name, body):
    (tmp_path / name).write_text(body if isinstance(body, str) else json.dumps(body))
    result = cli("--targets-file", name, "--summary-json", "s.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["succeeded"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "3", "--params-json", "{oops"], "--params-json: not valid JSON"),
        (["--targets", "3", "--params-json", "[1]"], "--params-json: must be a JSON object"),
        ([], "exactly one of --targets N, --targets-file PATH or --source-json JSON"),
        (["--targets", "3", "--targets-file", "x.json"], "exactly one of"),
        (["--targets-file", "missing.json"], "--targets-file: cannot read"),
        (["--targets", "3", "--run-id", "../escape"], "--run-id"),
        (["--targets", "-1"], "--targets"),
        (["--targets", "3", "--max-concurrency", "0"], "--max-concurrency"),
    ],
)
def test_bad_usage_exits_2_naming_the_flag(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # Rich wraps long messages at the terminal's width


def test_invalid_input_found_by_the_hub_exits_2_with_nothing_run(cli, tmp_path):
    # Only the hub can know this one (the bucket is in the engine): it refuses the run, nothing runs.
    source = json.dumps({"type": "s3-manifest", "bucket": "no-such-bucket", "key": "t.json"})
    result = cli("--source-json", source, "--summary-json", "s.json")
    assert result.exit_code == 2
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["error"], summary["total"], summary["outcome"]) == ("InvalidRunRequest", 0, "failed")
    assert "cannot read s3://no-such-bucket/t.json" in summary["cause"]
    assert summary["attempts"] == {}  # no ledger rows


def test_unknown_operation_exits_2(cli):
    result = cli("--targets", "2", "--operation", "rm-rf")
    assert result.exit_code == 2
    assert "unknown operation 'rm-rf'" in result.output


def test_zero_targets_exit_0(cli, tmp_path):
    result = cli("--targets", "0", "--summary-json", "s.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["total"] == 0


def test_installed_command_with_progress_bar(tmp_path, synth_cache, stack):
    # The real console script, as a user runs it: progress on stderr, summary on stdout, exit code.
    home = tmp_path / "home"
    home.mkdir()
    (home / "synth").symlink_to(synth_cache)
    env = {**os.environ, "HUBSPOKE_HOME": str(home)}
    cmd = [sys.executable, "-m", "hubspoke", "local", "run", "--targets", "20", "--params-json", '{"sleep_ms": 100}']
    proc = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "SUCCEEDED" in proc.stdout
    assert "20/20" in proc.stderr


EXAMPLES = ROOT / "examples"
PUSH_EVENT = json.loads((EXAMPLES / "ecr-push-web.json").read_text())


@pytest.fixture
def cli_event(cli, tmp_path, watched_stack):
    """`hubspoke local event` in-process, web, api and team-* watched (the `cli` fixture set HUBSPOKE_HOME and
    the working folder; `watched_stack` filled the synth cache for WATCH_OPTIONS)."""
    from typer.testing import CliRunner

    from hubspoke.cli import app

    def run(event: dict[str, Any], world: dict[str, Any], *args: str):
        (tmp_path / "event.json").write_text(json.dumps(event))
        (tmp_path / "world.json").write_text(json.dumps(world))
        command = ["local", "event", "event.json", "--world", "world.json", "--quiet", *WATCH_OPTIONS, *args]
        return CliRunner().invoke(app, command)

    return run


def test_event_with_no_repository_watched_starts_nothing_and_says_how_to_watch_one(cli, tmp_path):
    from typer.testing import CliRunner

    from hubspoke.cli import app

    # GIVEN cdk.json as shipped (no repository watched: the image-push rule is deployed disabled)
    (tmp_path / "event.json").write_text(json.dumps(PUSH_EVENT))
    (tmp_path / "world.json").write_text((EXAMPLES / "world.json").read_text())
    # WHEN a push is fed through the rule without --repository
    result = CliRunner().invoke(app, ["local", "event", "event.json", "--world", "world.json", "--quiet"])
    # THEN nothing runs, and the output says why and what to do
    assert result.exit_code == 0, result.output
    assert "No rule matched the event: nothing started." in result.output
    assert "The image-push rule is disabled" in result.output
    assert "--repository NAME" in result.output


def test_event_refused_by_the_hub_exits_2_as_local_run_does(cli_event):
    # A malformed digest passes the rule's pattern; the hub refuses the run request (InvalidRunRequest).
    event = {**PUSH_EVENT, "detail": {**PUSH_EVENT["detail"], "image-digest": "sha256:not-a-digest"}}
    world = json.loads((EXAMPLES / "world.json").read_text())
    result = cli_event(event, world)
    assert "InvalidRunRequest" in result.output
    assert result.exit_code == 2, result.output


def test_inactive_services_are_named_cluster_slash_service_and_counted_as_skipped(cli_event, tmp_path):
    # The same service name in two clusters, inactive in both: the summary must say which is which.
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4"
    world = {
        "clusters": [
            {
                "name": name,
                "services": [{"name": "api", "image": image, "status": "INACTIVE"}, {"name": "web", "image": image}],
            }
            for name in ("prod-eu", "prod-us")
        ],
        "index": False,
    }
    result = cli_event(PUSH_EVENT, world, "--summary-json", "s.json")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["notes"]["skipped"] == ["prod-eu/api (INACTIVE)", "prod-us/api (INACTIVE)"]
    assert (summary["total"], summary["succeeded"], summary["skipped"]) == (4, 2, 2)
    table = " ".join(result.output.split())
    assert "│ skipped │ 2 │" in table
    assert "prod-eu/api (INACTIVE), prod-us/api (INACTIVE)" in table


@pytest.fixture
def cli_cold(tmp_path, monkeypatch):
    """The CLI in-process with an empty HUBSPOKE_HOME: whatever it synthesizes or runs leaves files there."""
    from typer.testing import CliRunner

    from hubspoke.cli import app

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HUBSPOKE_HOME", str(home))
    monkeypatch.chdir(tmp_path)

    def run(*args: str):
        result = CliRunner().invoke(app, [*args])
        return result, " ".join(result.output.split()), sorted(p.name for p in home.iterdir())

    return run


def one_error_line(result) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("teams.csv", "name,team\napi,x\n", "--targets-file: teams.csv has no 'id' column (columns found: name, team)"),
        ("empty.csv", "", "--targets-file: empty.csv is empty"),
        ("header.csv", "id,team\n", "--targets-file: header.csv holds no targets"),
        ("empty.json", "[]", "--targets-file: empty.json holds no targets"),
        ("dup.csv", "id\na\nb\na\n", "--targets-file: dup.csv: duplicate target ids: 'a'"),
        ("dup.json", '[{"id": "a"}, {"id": "a"}]', "--targets-file: dup.json: duplicate target ids: 'a'"),
        ("noid.json", '[{"id": "a"}, {"name": "b"}]', "--targets-file: noid.json: [1] has no 'id' (found: name)"),
    ],
)
def test_bad_targets_file_is_one_line_naming_the_file_before_any_synth(cli_cold, tmp_path, name, body, message):
    (tmp_path / name).write_text(body)
    result, output, home = cli_cold("local", "run", "--quiet", "--targets-file", name)
    one_error_line(result)
    assert message in output
    assert "s3://" not in output
    assert "inputs/" not in output
    assert home == []  # nothing synthesized, no run folder: the engine never started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--operation", "rm-rf"],
            "operation: unknown operation 'rm-rf' (known: ecs-restart, ecs-run-task, github-file-sync, k8s-apply, "
            "k8s-rollout-restart, noop)",
        ),
        (["--params-json", '{"sleep_ms": -5}'], "params.sleep_ms: Input should be greater than or equal to 0"),
        (["--params-json", '{"sleep": 5}'], "params.sleep: Extra inputs are not permitted"),
    ],
)
def test_unknown_operation_or_bad_params_are_refused_before_any_synth(cli_cold, args, message):
    result, output, home = cli_cold("local", "run", "--quiet", "--targets", "3", *args)
    one_error_line(result)
    assert message in output
    assert home == []


def test_cdk_json_with_a_syntax_error_is_one_line_and_exit_2(cli_cold, tmp_path, monkeypatch):
    # A copy of the project's cdk.json with one comma missing, as a person editing it would leave it.
    import hubspoke.synth

    broken = tmp_path / "project"
    broken.mkdir()
    text = (ROOT / "cdk.json").read_text()
    (broken / "cdk.json").write_text(text.replace(",", "", 1))
    monkeypatch.setattr(hubspoke.synth, "PROJECT_ROOT", broken)
    # Wide enough that the path, however deep the temporary folder, is not folded inside the checked message.
    monkeypatch.setenv("COLUMNS", "1000")
    for args in (["local", "run", "--quiet", "--targets", "3"], ["local", "event", "e.json", "--world", "w.json"]):
        result, output, home = cli_cold(*args)
        one_error_line(result)
        assert f"cdk.json: {broken / 'cdk.json'} is not valid JSON (Expecting" in output
        assert home == []


def test_world_file_errors_name_the_field_path(cli_cold, tmp_path):
    world = {"clusters": [{"name": "prod", "services": [{"name": "web", "image": "x", "desired_count": -1}]}]}
    (tmp_path / "w.json").write_text(json.dumps(world))
    (tmp_path / "e.json").write_text(json.dumps(PUSH_EVENT))
    result, output, home = cli_cold("local", "event", "e.json", "--world", "w.json")
    one_error_line(result)
    assert (
        "--world: w.json: clusters[0].services[0].desired_count: Input should be greater than or equal to 0" in output
    )
    assert home == []
