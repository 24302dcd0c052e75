"""A local run never leaves this machine: AWS endpoints pinned to a closed loopback port, a socket guard."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from hubspoke import localnet
from hubspoke.engine import LocalEngine
from hubspoke.synth import SynthesizedStack

pytestmark = pytest.mark.e2e
NO_RETRIES = Config(retries={"total_max_attempts": 1})  # one refused connect is the whole answer


def test_a_client_of_the_run_reaches_moto_through_the_pin_and_fails_closed_once_moto_is_gone(
    stack: SynthesizedStack, tmp_path: Path
) -> None:
    with LocalEngine(stack, log_path=tmp_path / "l.log") as engine:
        client = boto3.client("dynamodb", region_name="us-east-1", config=NO_RETRIES)
        assert client.meta.endpoint_url.startswith("http://127.0.0.1:")
        assert engine.table_name in client.list_tables()["TableNames"]  # answered by moto, in-process
        s3 = boto3.client("s3", region_name="us-east-1", config=NO_RETRIES)
        s3.put_object(Bucket="hubspoke-local", Key="k", Body=b"v")
        assert s3.get_object(Bucket="hubspoke-local", Key="k")["Body"].read() == b"v"
    # A late thread still holding this client after the engine stopped: the closed port refuses it.
    with pytest.raises(EndpointConnectionError, match=r"http://127\.0\.0\.1:\d+/"):
        client.list_tables()


def test_service_specific_endpoints_of_the_environment_cannot_take_a_run_elsewhere(
    stack: SynthesizedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.example.com")
    with LocalEngine(stack, log_path=tmp_path / "l.log"):
        client = boto3.client("dynamodb", region_name="us-east-1", config=NO_RETRIES)
        assert client.meta.endpoint_url.startswith("http://127.0.0.1:")
    assert localnet.ENDPOINT_ENV not in os.environ
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == "https://dynamodb.example.com"  # given back after the run


def test_the_guard_refuses_connects_and_lookups_off_this_machine_and_lets_loopback_through() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    with server, localnet.guarded():
        # Refused by the audit hook before the system call: no packet, no DNS query.
        with socket.socket() as raw, pytest.raises(localnet.OffMachineRefusedError):
            raw.connect(("192.0.2.1", 443))  # TEST-NET-1
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("dynamodb.us-east-1.amazonaws.com", 443)
        socket.create_connection(server.getsockname(), timeout=1).close()
        assert socket.getaddrinfo("localhost", 80)
    assert not localnet.guard_active()


def test_the_engine_guards_its_whole_lifetime(stack: SynthesizedStack, tmp_path: Path) -> None:
    with LocalEngine(stack, log_path=tmp_path / "l.log"):
        assert localnet.guard_active()
        with socket.socket() as raw, pytest.raises(localnet.OffMachineRefusedError):
            raw.connect(("192.0.2.1", 443))
    assert not localnet.guard_active()


def test_interrupt_stops_the_run_and_every_handler_before_moto_is_gone(stack: SynthesizedStack, tmp_path: Path) -> None:
    with LocalEngine(stack, log_path=tmp_path / "l.log") as engine:
        # 200 spokes of 200 s simulated (2 s real each), 4 at a time: minutes, if nothing stopped them.
        targets = [{"id": f"t{i:03d}"} for i in range(200)]
        request = engine.manifest_request("long", targets, {"sleep_ms": 200_000}, max_concurrency=4)
        spoke = engine.runtime.function(engine.spoke_function)

        def interrupt_once_spokes_sleep(progress: object) -> None:
            if spoke.stats.active:  # what Ctrl-C's handler does, from the thread the signal lands in
                engine.interrupt()

        result = engine.run(request, on_progress=interrupt_once_spokes_sleep)
        assert (result.interrupted, result.status) == (True, "ABORTED")
        # The sleeping spokes were woken and ended (a 2 s sleep outlasts the 1.5 s grace otherwise).
        assert [f.name for f in engine.runtime.functions if f.stats.active] == []
        started = spoke.stats.invocations
        assert started < 200
        refused = engine.runtime.invoke(engine.spoke_function, "{}")  # whoever asks now: nothing starts
        assert refused["Payload"]["errorType"] == "HubSpoke.LocalRunStopped"
        pending = [row for row in engine.ledger("long") if row["status"] == "pending"]
        assert len(pending) >= 200 - started
    assert spoke.stats.invocations == started
    assert spoke.stats.active == 0
