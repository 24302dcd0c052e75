"""The embedded local engine: the synthesized stack's own state machine, run by moto's ASL interpreter.

Everything the workflow needs is created in moto from the template (provision.py). Where moto's interpreter
differs from AWS, the engine adapts explicitly; each adaptation is listed in ADAPTATIONS (adaptations.py),
in docs/local-engine.md, and tested.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubspoke import localnet
from hubspoke.client.deployment import discover, embedded_deployment
from hubspoke.engine import ecs_tasks, kept_runs, limits, map_runs, trust
from hubspoke.engine.collector import tuned_collector
from hubspoke.engine.environment import function_environments, process_environment
from hubspoke.engine.moto_patches import check_moto_version, install_interpreter_patches, route_pinned_endpoint_to_moto
from hubspoke.engine.output import OutputRouter, route_output
from hubspoke.engine.provision import ACCOUNT, BUCKET, REGION, create_state_machine, provision, resolved_definition
from hubspoke.engine.running import Executions
from hubspoke.engine.runtime import FaultHook, InProcessRuntime, lambda_module
from hubspoke.engine.shutdown import drain
from hubspoke.engine.stack_record import STACK_NAME, record_stack
from hubspoke.synth import SynthesizedStack

if TYPE_CHECKING:
    from hubspoke.client.deployment import Deployment

TIME_SCALE_ENV = "HUBSPOKE_TIME_SCALE"  # read by lambdas/shared/clock.py
TOKEN_SECRET_ENV = "GITHUB_TOKEN_SECRET"  # noqa: S105 - a variable's name; the GitHub token's secret name (lambdas/shared/config.py)


class LocalEngine(Executions):
    """Use as a context manager: `with LocalEngine(stack) as engine: engine.run(request)`."""

    def __init__(
        self,
        stack: SynthesizedStack,
        *,
        time_scale: float = 0.01,
        log_path: Path | None = None,
        fault_hook: FaultHook | None = None,
        github_token: str | None = None,
        allowed_hosts: tuple[str, ...] = (),
        state_dir: Path | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.stack = stack
        self.time_scale = time_scale
        self.log_path = log_path
        self.runtime = InProcessRuntime(fault_hook=fault_hook)
        # Stored in moto's Secrets Manager under the stack's token secret name, as an operator would.
        self._github_token = github_token
        self._exit = ExitStack()
        self._clients: dict[str, Any] = {}
        self.table_name = ""
        self.state_machine_arn = ""
        # The template's definition as synthesized, intrinsics resolved to local names and ARNs (what a checker reads).
        self.state_machine_definition = ""
        self._deployment: Deployment | None = None
        self.spoke_function = ""
        self._router: OutputRouter | None = None
        self.limits = limits.LimitRecord()
        # How one-off ECS tasks end, by cluster, on the simulated clock (adaptation `ecs-task-lifecycle`).
        self.tasks = ecs_tasks.TaskLifecycle(now=lambda: time.monotonic() / self.time_scale)
        # Hosts off this machine the run may reach (a remote GitHub API the person named); AWS never.
        self.allowed_hosts = allowed_hosts
        self.state_dir = state_dir  # runs kept across invocations, engine.json (adaptation `kept-runs`)
        self._halt = threading.Event()
        self._interrupt_requested = False
        # Fake credentials, unique per engine, so tests can prove no secret leaks into logs or payloads.
        self.secrets = (f"local-secret-{uuid.uuid4().hex}", f"local-token-{uuid.uuid4().hex}")

    # -- set-up -----------------------------------------------------------------------------------

    def __enter__(self) -> LocalEngine:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._interrupt_requested or exc[0] is not None:
            self._halt_handlers()
        self._drain()
        if self._router is not None:
            self._router.active = False
        self._exit.close()

    def _drain(self) -> None:
        drain(self.runtime)

    def _start(self) -> None:
        from moto import mock_aws

        check_moto_version()
        stack = self._exit
        # First in, last out: the guard outlives moto and every thread the run started (see localnet).
        stack.enter_context(localnet.guarded(self.allowed_hosts))
        endpoint = stack.enter_context(localnet.pinned_endpoints())
        aws = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": self.secrets[0],
            "AWS_SESSION_TOKEN": self.secrets[1],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
        stack.enter_context(process_environment(aws))
        # From here a function's thread sees only its own environment (adaptation `function-environment`).
        stack.enter_context(function_environments(self.runtime.current_environment))
        stack.enter_context(
            mock_aws(
                config={
                    "stepfunctions": {"execute_state_machine": True},
                    "lambda": {"use_docker": False},
                }
            )
        )
        route_pinned_endpoint_to_moto(stack, endpoint)
        import boto3

        for service in ("s3", "dynamodb", "stepfunctions", "ecs", "secretsmanager", "cloudformation"):
            self._clients[service] = boto3.client(service, region_name=REGION)
        engine_environment = {
            **{k: v for k, v in os.environ.items() if k.startswith("MOTO_")},  # moto's settings, for its calls
            **aws,
            localnet.ENDPOINT_ENV: endpoint,
            TIME_SCALE_ENV: repr(self.time_scale),
            # X-Ray has no daemon here; Powertools skips tracing when this is set.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        provisioned = provision(self.stack, self.runtime, self._clients, self.time_scale, engine_environment)
        self.table_name, self.spoke_function = provisioned.table_name, provisioned.spoke_function
        # Handlers cache config and clients per container; a new engine is a new container.
        lambda_module(self.runtime, "shared.caches").reset_all()
        if self._github_token is not None:
            # Under the secret name each function that reads the token is given (one, as synthesized).
            for name in sorted({f.environment.get(TOKEN_SECRET_ENV, "") for f in self.runtime.functions} - {""}):
                self._clients["secretsmanager"].create_secret(Name=name, SecretString=self._github_token)
        self._router = route_output(stack, self.runtime, self.log_path)
        # Adaptation `assume-role-trust`: a function assumes a role only if it exists and its trust admits it.
        stack.enter_context(trust.enforced(self._caller_arn))
        install_interpreter_patches(stack, self.runtime, self.time_scale, self._halt)
        self.limits = limits.install(stack)  # adaptations `aws-data-limit`, `aws-history-limit`
        self.map_runs = map_runs.install(stack)  # adaptation `kept-map-runs`
        ecs_tasks.install(stack, self.tasks)  # adaptation `ecs-task-lifecycle`
        self.state_machine_definition = resolved_definition(self.stack, provisioned.resolver)
        self.state_machine_arn = create_state_machine(self.stack, self.sfn, provisioned.resolver)
        outputs = {"StateMachineArn": self.state_machine_arn, "BucketName": BUCKET, "LedgerTableName": self.table_name}
        # The roles a target account's HubSpokeTargetRole trusts, as the deployed stack outputs them.
        trusted = {kind: self.function_role_arn(kind) for kind in trust.TRUSTING_FUNCTIONS}
        outputs.update({f"{kind.capitalize()}RoleArn": arn for kind, arn in trusted.items()})
        outputs["TrustedRoleArns"] = ",".join(trusted.values())
        record_stack(self._clients["cloudformation"], self.stack, outputs)
        self._deployment = discover(STACK_NAME, region=REGION)  # found as the client finds a deployed stack
        # Commands without --stack operate on this engine while it runs (the operator client, hubspoke/client/).
        stack.enter_context(embedded_deployment(self.deployment()))
        if self.state_dir is not None:  # adaptation `kept-runs`; served to other processes (serve.py)
            kept_runs.install(stack, self, self.state_dir)
        stack.enter_context(tuned_collector())  # adaptation `tuned-gc`: last, to freeze all that start-up made

    def deployment(self) -> Deployment:
        """What the operator client needs of this engine, discovered from the stack's outputs as on AWS."""
        if self._deployment is None:
            raise RuntimeError("the engine has not started")
        return self._deployment

    def expect_tasks(self, account: str | None, region: str | None, cluster: str, task: ecs_tasks.TaskEnding) -> None:
        """One-off tasks on this cluster (None: the engine's own account/region) end as `task` says."""
        self.tasks.expect(account, region, cluster, task)

    def _caller_arn(self) -> str:
        """Who is calling AWS from this thread: the running function's role, else (the engine, a test) the account."""
        function = self.runtime.current_function()
        return trust.ROOT_PRINCIPAL.format(account=ACCOUNT) if function is None else function.role_arn

    def function_role_arn(self, kind: str) -> str:
        """The role of the hub, spoke or indexer (`kind`) function, as a target role's trust names it."""
        return self.runtime.function(self.function_named(f"{kind}.")).role_arn

    def deploy_target_role(self, account_id: str, trusts: Iterable[str] = trust.TRUSTING_FUNCTIONS) -> str:
        """Deploy stack HubSpokeTargetRole, as synthesized, into `account_id` through moto's CloudFormation there,
        trusting the `trusts` functions' roles (the main stack's outputs) with the deployment's external id, as a
        user deploys it (README: Targets in other accounts). Returns the role's ARN."""
        kinds = [self.function_role_arn(kind) for kind in trust.checked_kinds(trusts)]
        spoke = self.runtime.function(self.spoke_function)
        return trust.deploy_target_role(
            self.stack.target_role_template(), account_id, kinds, spoke.environment["CROSS_ACCOUNT_EXTERNAL_ID"]
        )

    # -- clients ----------------------------------------------------------------------------------

    @property
    def s3(self) -> Any:
        return self._clients["s3"]

    @property
    def dynamodb(self) -> Any:
        return self._clients["dynamodb"]

    @property
    def ecs(self) -> Any:
        return self._clients["ecs"]

    def function_named(self, handler_prefix: str) -> str:
        """The local function whose handler starts with `handler_prefix` (e.g. 'indexer.')."""
        return next(f.name for f in self.runtime.functions if f.handler_path.startswith(handler_prefix))

    # -- running ----------------------------------------------------------------------------------

    def put_input(self, key: str, body: bytes) -> dict[str, str]:
        """Upload a target list under inputs/ and return an s3-manifest source pointing at it."""
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return {"bucket": BUCKET, "key": key}

    def manifest_request(
        self, run_id: str, targets: list[dict[str, Any]], params: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A noop run request over `targets`, uploaded as an s3-manifest source (any number of targets)."""
        source = self.put_input(f"inputs/{run_id}.json", json.dumps(targets).encode())
        return {
            "run_id": run_id,
            "operation": "noop",
            "params": params or {},
            "source": {"type": "s3-manifest", **source},
            **extra,
        }
