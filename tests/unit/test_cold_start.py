"""Cold start: X-Ray only where it traces, and only the modules HubSpoke calls through; an operation's module
only in runs of that operation.

Each case imports in a fresh interpreter with a Lambda environment, as a cold start does: what a module imported
is only visible before anything else in the process imported it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
PROBE = (
    "import json, sys\n"
    "import shared.observability as o\n"
    "patched = sorted(sys.modules['aws_xray_sdk.core.patcher']._PATCHED_MODULES)"
    " if 'aws_xray_sdk.core.patcher' in sys.modules else None\n"
    "print(json.dumps({'xray_core': 'aws_xray_sdk.core' in sys.modules, 'disabled': bool(o.tracer.disabled),"
    " 'patched': patched, 'requests': 'requests' in sys.modules}))\n"
)


def _cold(**env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_LAMBDA"))}
    base.update(AWS_DEFAULT_REGION="us-east-1", AWS_LAMBDA_FUNCTION_NAME="spoke", **env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=LAMBDAS, env=base, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_tracing_off_never_builds_the_xray_recorder():
    # Tracing off (the local engine, tests, the CLI): the X-Ray recorder (two botocore clients) is not built
    assert _cold(POWERTOOLS_TRACE_DISABLED="true") == {
        "xray_core": False,
        "disabled": True,
        "patched": None,
        "requests": False,
    }


def test_tracing_off_outside_lambda_too():
    # No LAMBDA_TASK_ROOT: Powertools' own rule says tracing is off there, and no recorder is built either
    assert _cold() == {"xray_core": False, "disabled": True, "patched": None, "requests": False}


def test_tracing_on_in_lambda_patches_only_aws_and_http_calls():
    # In Lambda with tracing on: botocore (AWS calls) and httplib (the GitHub client's urllib3) are traced,
    # nothing else is patched, and `requests`, which no function uses, is never imported
    assert _cold(LAMBDA_TASK_ROOT=str(LAMBDAS)) == {
        "xray_core": True,
        "disabled": False,
        "patched": ["botocore", "httplib"],
        "requests": False,
    }


OPERATIONS_PROBE = (
    "import json, sys\n"
    "import spoke.handler, hub.handler, gate.handler\n"
    "before = sorted(m for m in sys.modules if m.startswith('spoke.operations.'))\n"
    "from shared.operations import OPERATIONS\n"
    "names = sorted(OPERATIONS)\n"
    "OPERATIONS['noop']\n"
    "after = sorted(m for m in sys.modules if m.startswith('spoke.operations.'))\n"
    "kube_after_noop = any(m.split('.')[0] in ('lightkube', 'httpx2') for m in sys.modules)\n"
    "OPERATIONS['k8s-apply'], OPERATIONS['k8s-rollout-restart']\n"
    "kube_after_lookup = any(m.split('.')[0] in ('lightkube', 'httpx2') for m in sys.modules)\n"
    "kube = [kube_after_noop, kube_after_lookup]\n"
    "print(json.dumps({'before': before, 'names': names, 'after': after, 'kube': kube}))\n"
)


def test_a_cold_start_imports_only_the_operation_its_run_names():
    out = subprocess.run(
        [sys.executable, "-c", OPERATIONS_PROBE],
        cwd=LAMBDAS,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    # Importing the handlers imports no operation; every operation is listed; a noop run imports noop alone; the
    # Kubernetes client (lightkube, httpx2) loads only when a k8s operation runs, not when it is looked up
    assert found == {
        "before": [],
        "names": ["ecs-restart", "ecs-run-task", "github-file-sync", "k8s-apply", "k8s-rollout-restart", "noop"],
        "after": ["spoke.operations.noop"],
        "kube": [False, False],
    }
