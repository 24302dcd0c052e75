"""A local GitHub-compatible REST server (a test double; standard library only, loopback), for the demo, the
benchmark and the tests. It serves only the endpoints the product calls, with GitHub's paths, status codes,
headers (rate limits, Retry-After, Link pagination) and error bodies. Not shipped in the product wheel.

Run it with `python -m devtools.github serve --help`.
"""

from devtools.github.clock import Clock, ManualClock, ScaledClock
from devtools.github.model import RecordedRequest, RepoSpec, blob_sha
from devtools.github.server import GitHubServer
from devtools.github.worlds import load_world, org_world

__all__ = [
    "Clock",
    "GitHubServer",
    "ManualClock",
    "RecordedRequest",
    "RepoSpec",
    "ScaledClock",
    "blob_sha",
    "load_world",
    "org_world",
]
