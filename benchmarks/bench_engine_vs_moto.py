"""The embedded engine against plain moto, side by side: CPU per spoke and concurrency efficiency.

Plain moto: `mock_aws` with Step Functions execution on and nothing of HubSpoke's engine. A STANDARD state
machine whose Distributed Map reads the targets from S3 (ItemReader, JSON), builds each item as deployed
(ItemSelector: run, target, rate-limit waits) and runs a child Task `arn:aws:states:::lambda:invoke` of the
spoke function, created in moto's Lambda with the synthesized spoke's environment; results go to S3
(ResultWriter). moto's interpreter calls Lambda as deployed code does: a boto3 client, botocore, moto's
Lambda responses and backend. moto runs a function's code only in Docker (its docker-less Lambda answers
every invoke with the event, its Lambda backend left out), so the one step that would start the container,
`LambdaFunction._invoke_lambda`, runs the synthesized spoke handler in this process instead. The ledger rows
the spoke's conditional write needs are seeded with the hub's own `Ledger.seed_pending`, inside the measured
CPU; the engine's figure also has the hub's other work and Summarize, which this one has not.

HubSpoke: the embedded engine (`LocalEngine`) running the deployed definition (hub, waves, Map, summarize).

Each setup runs in a fresh process (they share module state otherwise), in turn A B A B, and each process
measures, after a warm-up run of 20:
- CPU per spoke, marginal: (process CPU at 1,000 targets - at 100) / 900, at MaxConcurrency 50, 100 ms of work;
- concurrency efficiency, ideal / actual makespan, at (1,000, C=50, 100 ms) and (200, C=10, 500 ms); ideal is
  ceil(n / C) x work, the makespan the execution's start to stop.
Real time (scale 1). Printed: each run, min and median per setup, and engine / moto ratios pair by pair.

    .venv/bin/python benchmarks/bench_engine_vs_moto.py [--pairs 3] [--setup engine|moto]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

# The checkout measured: this one, or another one's (bench_table.py measures a before checkout with this script,
# so before and after are measured the same way).
ROOT = Path(os.environ.get("HUBSPOKE_BENCH_ROOT") or Path(__file__).resolve().parent.parent).resolve()
sys.path.insert(0, str(ROOT))

from hubspoke.synth import SynthesizedStack, synthesize_cached  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "bench-moto"
LEDGER = "bench-ledger"
FUNCTION = "spoke"
# (targets, MaxConcurrency, work ms): the marginal pair, then the second efficiency point.
MARGINAL_LOW = (100, 50, 100)
MARGINAL_HIGH = (1000, 50, 100)
SLOW = (200, 10, 500)
FIGURES = ("cpu_per_spoke_ms", "efficiency_1000_c50", "efficiency_200_c10")


def ideal_seconds(n: int, concurrency: int, work_ms: int) -> float:
    return math.ceil(n / concurrency) * work_ms / 1000


# -- plain moto ---------------------------------------------------------------------------------------------


def moto_definition(spoke_arn: str) -> str:
    """A STANDARD Distributed Map over an S3 JSON manifest, its child the spoke's Lambda task, shaped as deployed."""
    return json.dumps(
        {
            "StartAt": "Spokes",
            "States": {
                "Spokes": {
                    "Type": "Map",
                    "MaxConcurrencyPath": "$.max_concurrency",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:getObject",
                        "ReaderConfig": {"InputType": "JSON"},
                        "Parameters": {"Bucket": BUCKET, "Key.$": "$.key"},
                    },
                    "ItemSelector": {"run.$": "$.run", "target.$": "$$.Map.Item.Value", "rate_limit": {"waits": 0}},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Spoke",
                        "States": {
                            "Spoke": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "TimeoutSeconds": 300,
                                "Parameters": {
                                    "FunctionName": spoke_arn,
                                    "Payload": {
                                        "run.$": "$.run",
                                        "target.$": "$.target",
                                        "retry_count.$": "$$.State.RetryCount",
                                        "rate_limit_waits.$": "$.rate_limit.waits",
                                    },
                                },
                                "ResultSelector": {},
                                "End": True,
                            }
                        },
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket": BUCKET, "Prefix": "map-results"},
                    },
                    "ResultPath": None,
                    "End": True,
                }
            },
        }
    )


class PlainMoto:
    """The plain moto setup: its clients and a `measure` like the engine's."""

    def __init__(self, stack: SynthesizedStack) -> None:
        import boto3

        self.stack = stack
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.db = boto3.client("dynamodb", region_name=REGION)
        self.s3.create_bucket(Bucket=BUCKET)
        resources = stack.template["Resources"]
        spoke_id = next(k for k, r in stack.resources("AWS::Lambda::Function").items() if _is_spoke(r))
        spoke = resources[spoke_id]["Properties"]
        ledger_id = stack.template["Outputs"]["LedgerTableName"]["Value"]["Ref"]
        names: dict[str, str] = {}
        for table_id, table in stack.resources("AWS::DynamoDB::Table").items():
            name = LEDGER if table_id == ledger_id else f"bench-{table_id.lower()}"
            props = table["Properties"]
            extra = {k: props[k] for k in ("GlobalSecondaryIndexes",) if k in props}
            self.db.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
                **extra,
            )
            names[table_id] = name
        # One function in this process: its environment is the process's (Refs are the tables above).
        variables = spoke.get("Environment", {}).get("Variables", {})
        for key, value in variables.items():
            os.environ[key] = names[value["Ref"]] if isinstance(value, dict) else str(value)
        os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon, as in the engine
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = FUNCTION
        sys.path.insert(0, str(stack.asset_dir(spoke_id)))
        import importlib

        module_name, _, attr = spoke["Handler"].rpartition(".")
        self.handler = getattr(importlib.import_module(module_name), attr)
        from shared.ledger import Ledger  # the hub's own seeding, as the Lambda code does it

        self.ledger = Ledger(self.db, LEDGER)
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("handler.py", "")
        awslambda = boto3.client("lambda", region_name=REGION)
        self.spoke_arn = awslambda.create_function(
            FunctionName=FUNCTION,
            Runtime=spoke["Runtime"],
            Role=role,
            Handler=spoke["Handler"],
            Code={"ZipFile": code.getvalue()},
            Timeout=int(spoke.get("Timeout", 3)),
            MemorySize=int(spoke.get("MemorySize", 128)),
        )["FunctionArn"]
        self.arn = self.sfn.create_state_machine(
            name="bench", definition=moto_definition(self.spoke_arn), roleArn=role, type="STANDARD"
        )["stateMachineArn"]

    def invoke(self, event: Any) -> tuple[str, bool, str]:
        """What moto's `_invoke_lambda` returns (payload, errored, logs), from the real handler in-process."""
        from hubspoke.engine.runtime import LambdaContext

        context = LambdaContext(FUNCTION, self.spoke_arn, 128, 300)
        try:
            return json.dumps(self.handler(event, context)), False, ""
        except Exception as exc:  # shaped as Lambda's unhandled error payload
            return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}), True, ""

    def measure(self, run_id: str, n: int, concurrency: int, work_ms: int) -> dict[str, float]:
        from shared.models import Target

        targets = [{"id": f"t{i:05d}"} for i in range(n)]
        cpu0 = time.process_time()
        self.s3.put_object(Bucket=BUCKET, Key=f"{run_id}.json", Body=json.dumps(targets).encode())
        self.ledger.seed_pending(run_id, [Target(**t) for t in targets], 30)
        run = {"run_id": run_id, "operation": "noop", "params": {"sleep_ms": work_ms}}
        arn = self.sfn.start_execution(
            stateMachineArn=self.arn,
            name=run_id,
            input=json.dumps({"run": run, "key": f"{run_id}.json", "max_concurrency": concurrency}),
        )["executionArn"]
        while (done := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.1)
        cpu = time.process_time() - cpu0
        if done["status"] != "SUCCEEDED":
            raise SystemExit(f"plain moto run {run_id}: {done['status']} {done.get('error')} {done.get('cause')}")
        makespan = (done["stopDate"] - done["startDate"]).total_seconds()
        return {"cpu_s": cpu, "makespan_s": makespan}


def _is_spoke(resource: dict[str, Any]) -> bool:
    return str(resource["Properties"].get("Handler", "")).startswith("spoke.")


def run_moto(stack: SynthesizedStack) -> dict[str, float]:
    from moto import mock_aws
    from moto.awslambda.models import LambdaFunction

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ[key] = value
    # Lambda as moto ships it (use_docker on): its backend, not the docker-less one that echoes every payload.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        setup = PlainMoto(stack)
        # moto's Lambda would start a container here; the handler runs in-process instead (the module docstring).
        LambdaFunction._invoke_lambda = lambda self, event=None: setup.invoke(event)  # type: ignore[method-assign]
        return figures(setup.measure)


# -- the engine -----------------------------------------------------------------------------------------------


def run_engine(stack: SynthesizedStack) -> dict[str, float]:
    from hubspoke.engine import LocalEngine

    with tempfile.TemporaryDirectory() as tmp, LocalEngine(stack, time_scale=1.0, log_path=Path(tmp) / "l.log") as eng:

        def measure(run_id: str, n: int, concurrency: int, work_ms: int) -> dict[str, float]:
            targets = [{"id": f"t{i:05d}"} for i in range(n)]
            request = eng.manifest_request(run_id, targets, {"sleep_ms": work_ms}, max_concurrency=concurrency)
            cpu0 = time.process_time()
            result = eng.run(request)
            cpu = time.process_time() - cpu0
            if result.summary is None or result.summary["succeeded"] != n:
                raise SystemExit(f"engine run {run_id}: {result.status} {result.error} {result.summary}")
            # The execution's start to stop, as plain moto's (the run's own wall time adds up to one poll
            # interval, 100 ms, and reading the report).
            done = eng.sfn.describe_execution(executionArn=result.execution_arn)
            return {"cpu_s": cpu, "makespan_s": (done["stopDate"] - done["startDate"]).total_seconds()}

        return figures(measure)


def figures(measure: Any) -> dict[str, float]:
    """The three figures from one setup's `measure(run_id, n, concurrency, work_ms)`, after a warm-up run."""
    measure("warmup", 20, 5, 0)  # imports and first calls are not per-spoke costs
    low = measure("low", *MARGINAL_LOW)
    high = measure("high", *MARGINAL_HIGH)
    slow = measure("slow", *SLOW)
    return {
        "cpu_per_spoke_ms": (high["cpu_s"] - low["cpu_s"]) * 1000 / (MARGINAL_HIGH[0] - MARGINAL_LOW[0]),
        "efficiency_1000_c50": ideal_seconds(*MARGINAL_HIGH) / high["makespan_s"],
        "efficiency_200_c10": ideal_seconds(*SLOW) / slow["makespan_s"],
    }


# -- side by side ---------------------------------------------------------------------------------------------


def child(setup: str) -> dict[str, float]:
    """One setup's figures from a fresh process (its handlers' log lines to a file, as the engine's go to one)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])}
    with tempfile.TemporaryDirectory() as tmp:
        out, log = Path(tmp) / "figures.json", Path(tmp) / "output.log"
        with log.open("w") as sink:
            done = subprocess.run(
                [sys.executable, __file__, "--setup", setup, "--out", str(out)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
            )
        if done.returncode != 0:
            raise SystemExit(f"{setup} run failed:\n{log.read_text()[-3000:]}")
        result: dict[str, float] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3, help="engine/moto pairs, run in turn")
    parser.add_argument("--setup", choices=["engine", "moto"], help="measure one setup here, write JSON to --out")
    parser.add_argument("--out", type=Path, help="where --setup writes its figures")
    args = parser.parse_args()

    stack = synthesize_cached(ROOT / ".hubspoke" / "synth")
    if args.setup is not None:
        measured = run_engine(stack) if args.setup == "engine" else run_moto(stack)
        (args.out or Path("/dev/stdout")).write_text(json.dumps(measured))
        return

    pairs = [(child("engine"), child("moto")) for _ in range(args.pairs)]
    print(
        f"engine vs plain moto, {args.pairs} pairs in turn: marginal CPU per spoke (1,000 - 100 noop targets, C=50, "
        "100 ms work), efficiency = ideal / actual makespan; real time"
    )
    print(f"{'figure':22}{'setup':>9}{'runs':>28}{'min':>9}{'median':>9}")
    for key in FIGURES:
        for name, col in (("engine", 0), ("moto", 1)):
            values = [p[col][key] for p in pairs]
            runs = " ".join(f"{v:.2f}" for v in values)
            print(f"{key:22}{name:>9}{runs:>28}{min(values):>9.2f}{statistics.median(values):>9.2f}")
        ratios = [p[0][key] / p[1][key] for p in pairs]
        runs = " ".join(f"{v:.2f}" for v in ratios)
        print(f"{'':22}{'eng/moto':>9}{runs:>28}{min(ratios):>9.2f}{statistics.median(ratios):>9.2f}")


if __name__ == "__main__":
    main()
