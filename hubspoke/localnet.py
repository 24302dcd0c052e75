"""A local run never leaves this machine.

Two layers, so that one failing still fails closed:

- Every AWS endpoint of the run is pinned (AWS_ENDPOINT_URL, service-specific overrides removed) to a
  loopback port that is bound and never listens, so any connect to it is refused. While moto runs, the
  engine hands a request for that endpoint to moto as the AWS URL of the service it is signed for
  (`aws_url`); once moto is gone, a stray call from a late thread hits the closed port.
- A socket guard (an audit hook, so it sees every connect and name lookup in the process, whatever library
  makes it) refuses destinations off this machine while a local run is under way. The only exception is a
  host the person named for the run (a remote GitHub API given with --github-url).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import sys
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

ENDPOINT_ENV = "AWS_ENDPOINT_URL"
# SigV4: Credential=<key>/<date>/<region>/<signing name>/aws4_request; the signing name is the endpoint prefix
# of every service a local run uses (s3, dynamodb, states, ecs, secretsmanager, monitoring, sts, lambda).
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class OffMachineRefusedError(ConnectionRefusedError):
    """A connect or lookup off this machine during a local run."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host.lower().rstrip(".") in LOCAL_NAMES


class _Guard:
    """The audit hook, installed once per process (hooks cannot be removed) and active while entered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._installed = False
        self._allowed_names: set[str] = set()
        self._allowed_addresses: set[str] = set()
        self._original_getaddrinfo = socket.getaddrinfo

    def enter(self, allowed_hosts: Collection[str]) -> None:
        with self._lock:
            if not self._installed:
                sys.addaudithook(self._audit)
                self._installed = True
            if self._depth == 0:
                self._allowed_names = {h.lower() for h in allowed_hosts}
                self._allowed_addresses = set()
                socket.getaddrinfo = self._getaddrinfo
            else:
                self._allowed_names |= {h.lower() for h in allowed_hosts}
            self._depth += 1

    def exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                socket.getaddrinfo = self._original_getaddrinfo
                self._allowed_names, self._allowed_addresses = set(), set()

    @property
    def active(self) -> bool:
        return self._depth > 0

    def _getaddrinfo(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        # The addresses of an allowed name become allowed connect destinations.
        answers = self._original_getaddrinfo(host, *args, **kwargs)
        if isinstance(host, (str, bytes)) and self._allowed(host if isinstance(host, str) else host.decode()):
            self._allowed_addresses.update(str(answer[4][0]) for answer in answers)
        return answers

    def _allowed(self, host: str) -> bool:
        return _is_loopback(host) or host.lower().rstrip(".") in self._allowed_names

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if self._depth == 0:
            return
        if event == "socket.connect":
            address = args[1]
            if not isinstance(address, tuple):
                return  # AF_UNIX and friends: a path on this machine
            host = str(address[0])
            if self._allowed(host) or host in self._allowed_addresses:
                return
            raise OffMachineRefusedError(
                errno.ECONNREFUSED, f"refused: a local run never leaves this machine ({host}:{address[1]})"
            )
        if event == "socket.getaddrinfo":
            host = args[0]
            if host is None:
                return
            name = host.decode() if isinstance(host, bytes) else str(host)
            if not self._allowed(name):
                raise socket.gaierror(socket.EAI_NONAME, f"refused: a local run never looks up {name}")


_GUARD = _Guard()


@contextmanager
def guarded(allowed_hosts: Collection[str] = ()) -> Iterator[None]:
    """Refuse connects and name lookups off this machine (except `allowed_hosts`) while inside."""
    _GUARD.enter(allowed_hosts)
    try:
        yield
    finally:
        _GUARD.exit()


def guard_active() -> bool:
    return _GUARD.active


@contextmanager
def pinned_endpoints() -> Iterator[str]:
    """AWS_ENDPOINT_URL pointing at a loopback port that refuses every connect; yields that endpoint."""
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))  # bound and never listening: connects are refused, and nobody else gets it
    endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    # Service-specific endpoints (AWS_ENDPOINT_URL_S3, ...) win over the global one: none may stay.
    names = [k for k in os.environ if k.startswith(ENDPOINT_ENV) or k == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]
    saved = {k: os.environ.pop(k) for k in names}
    os.environ[ENDPOINT_ENV] = endpoint
    try:
        yield endpoint
    finally:
        os.environ.pop(ENDPOINT_ENV, None)
        os.environ.update(saved)
        closed.close()


def aws_url(url: str, endpoint: str, authorization: Any) -> str | None:
    """The AWS URL a request to the pinned `endpoint` stands for, from the service and region it is signed
    for; None if it is not for the endpoint or not signed (it then goes to the closed port and fails)."""
    if not url.startswith(endpoint + "/") and url != endpoint:
        return None
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    match = _CREDENTIAL_SCOPE.search(authorization or "")
    if match is None:
        return None
    region, service = match.groups()
    return f"https://{service}.{region}.amazonaws.com{url[len(endpoint) :] or '/'}"
