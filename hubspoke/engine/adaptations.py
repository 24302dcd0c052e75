"""The adaptations of the local engine to moto's interpreter and to one process, by name.

Each is listed in docs/local-engine.md and exercised in tests/e2e/test_adaptations.py (the limits in
tests/e2e/test_limits.py).
"""

ADAPTATIONS: dict[str, str] = {
    "in-process-lambda": (
        "Lambda tasks are answered by running the synthesized asset's handler in-process "
        "(moto's docker-less Lambda only echoes the payload); errors keep Lambda's errorType shape. The asset's "
        "compiled packages built for Lambda's Python (msgspec, PyYAML) come from the engine's own environment."
    ),
    "scaled-retry": "Retry intervals (IntervalSeconds, backoff, jitter) sleep for interval x time scale.",
    "scaled-wait": "Wait states wait for seconds x time scale.",
    "scaled-timeout": (
        "A task's TimeoutSeconds is measured on the simulated clock: its real time, minus the time its "
        "handler slept on the scaled clock, plus that sleep divided by the scale. A spoke that sleeps past "
        "its timeout times out as deployed; real in-process work (the hub seeding 10,000 rows, a spoke "
        "waiting for the CPU under load) counts one to one, as it would in Lambda. A sleep counts for no longer "
        "than it asked: a sleeper that runs again late (waiting for the GIL among 100 threads) is slow, not asleep."
    ),
    "resolved-definition": (
        "The template's DefinitionString is used as is, with Refs/GetAtts resolved to the local "
        "bucket, table and function ARNs."
    ),
    "named-executions": "Executions are always started with a name (moto's ARN ends in ':None' without one).",
    "lambda-timeout": (
        "A handler cannot be killed in-process, so its scaled sleeps stop at the function's own timeout "
        "(simulated) and raise Sandbox.Timedout, as Lambda stops a function; a spoke past its task timeout "
        "can then never write a late success."
    ),
    "iterative-map-worker": (
        "moto's Distributed Map worker recurses once per item it processes, so a worker with more than "
        "about 990 items (e.g. 1,000 targets at MaxConcurrency 1) dies with RecursionError and the run "
        "hangs; the engine runs the same steps in a loop."
    ),
    "serialized-moto": (
        "moto's backends are not thread-safe: a ledger query deep-copying items while a spoke wrote one "
        "failed with 'dictionary changed size during iteration'. The engine lets a table-iterating read "
        "(Query, Scan) into moto only alone; other requests still run side by side."
    ),
    "aws-data-limit": (
        "A state's input, and a Map's gathered child results when it has no ResultWriter, may not reach 256 KiB "
        "(262,144 bytes): the state fails with States.DataLimitExceeded, which no Retry or Catch matches (not "
        "even States.ALL), so the execution fails, as on AWS. moto checks only state outputs and task results, "
        "and let States.ALL catch those. Each Map run's gathered bytes are recorded (LocalEngine.limits)."
    ),
    "aws-history-limit": (
        "An execution's history holds at most 25,000 events: when event 25,000 would not be ExecutionSucceeded, "
        "the execution fails with ExecutionFailed as that event (error States.Runtime, the cause names the "
        "quota), as on AWS; moto records any number. A Distributed Map's children have histories of their own."
    ),
    "item-reader-failed": (
        "A Distributed Map whose ItemReader cannot read its source (S3 GetObject refused: SlowDown, 500, a missing "
        "key) fails with States.ItemReaderFailed, as on AWS, so a Retry or Catch on that name applies; moto let the "
        "SDK's exception through as States.Runtime."
    ),
    "float-tolerated-failure": (
        "An integer ToleratedFailurePercentage (valid on AWS; CDK writes 100) is given to moto as a float, the "
        "only form its parser accepts; the value is unchanged."
    ),
    "function-environment": (
        "In Lambda each function has a process, and an environment, of its own; here all run in threads of one "
        "process. While the engine runs, os.environ answers per thread: a thread running a function (its "
        "handler, or the import of its module) sees only that function's template variables plus the engine's "
        "(AWS_* credentials and region, AWS_LAMBDA_FUNCTION_NAME as Lambda sets it, the pinned AWS_ENDPOINT_URL, "
        "HUBSPOKE_TIME_SCALE, POWERTOOLS_TRACE_DISABLED, moto's MOTO_* settings), and its writes stay there; other "
        "threads see the process's. Module state the functions' shared code keeps (read at import, or cached) is "
        "one per process."
    ),
    "kept-map-runs": (
        "ListMapRuns and DescribeMapRun answer from the Map Run records the engine keeps by execution: moto keeps "
        "them in an execution's interpreter environment, built in its worker thread after StartExecution returned, "
        "and until then both calls failed with AttributeError (DescribeMapRun scans every execution)."
    ),
    "kept-runs": (
        "On AWS a run outlives the command that started it; moto keeps everything in memory. An engine given a "
        "state directory keeps each run it started, when the engine ends (any outcome, Ctrl-C too; a run still "
        "running is stopped first): the execution (name, ARN, status, input, output, error, cause, dates), its "
        "ledger rows and its S3 objects, as JSON under <state dir>/runs/<run_id>/. A new engine loads them back: "
        "rows through the Lambdas' batch writer, the objects, and each finished execution into moto's Step "
        "Functions backend, so ListExecutions and DescribeExecution answer it, and its name stays taken, as on "
        "AWS. Execution histories and Map Run records are not kept."
    ),
    "ecs-task-lifecycle": (
        "One-off ECS tasks end as the world says (LocalEngine.expect_tasks; default exit 0 after 30 s): after its "
        "simulated seconds a task is STOPPED for DescribeTasks and ListTasks, stop code EssentialContainerExited, "
        "with every container of its task definition and the essential ones' exit code; a cluster whose tasks do "
        "not start answers RunTask with failures and starts nothing. moto gives one container exit code 0 from the "
        "start and stops the task after four DescribeTasks calls. RunTask calls are counted per cluster."
    ),
    "assume-role-trust": (
        "moto's AssumeRole answers any role ARN, whether the role exists or not, for any caller; STS refuses with "
        "AccessDenied unless the role exists in its account and its trust policy admits the caller (principal, "
        "aws:PrincipalArn, sts:ExternalId). The engine refuses likewise, evaluating the role's trust policy in "
        "moto's IAM of that account against the calling function's role (the function the thread runs; the "
        "account's root for other threads). LocalEngine.deploy_target_role deploys stack HubSpokeTargetRole, as "
        "synthesized, into an account through moto's CloudFormation."
    ),
    "reserved-concurrency": (
        "moto ignores a function's ReservedConcurrentExecutions. The engine honours the template's: an invocation "
        "while that many of the function's invocations are running is refused before its handler runs, as Lambda "
        "throttles it (429 TooManyRequestsException, reason ReservedFunctionConcurrentInvocationLimitExceeded), so "
        "Step Functions sees Lambda.TooManyRequestsException and the task's Retry and Catch decide. Throttles are "
        "counted per function (FunctionStats.throttles); they are not invocations."
    ),
    "serialized-start": (
        "StartExecution calls enter moto one at a time: moto looks for an execution of the same name, then adds one, "
        "without a lock, so two deliveries of one run at the same moment both started executions (each running "
        "every target) where Step Functions starts one and returns it to the other. StartExecution also returns only "
        "once moto's execution thread has built its environment: a StopExecution before that failed inside moto. "
        "Not covered: moto ends an execution stopped in the first milliseconds of its first Task FAILED "
        "(States.Runtime) where Step Functions ends it ABORTED."
    ),
    "atomic-writes": (
        "DynamoDB PutItem, UpdateItem, DeleteItem and TransactWriteItems enter moto one at a time: moto reads the "
        "item, checks the condition, then writes, without a lock, so two conditional writes of one item at the same "
        "moment could both pass (two deliveries' hubs both claimed one run) where DynamoDB applies each atomically."
    ),
    "cached-jsonpath": (
        "JSONPath expressions are parsed once and reused (moto builds a new parser for every lookup, "
        "a fifth of the CPU per spoke; ResultPath's own parser included); results are unchanged."
    ),
    "json-copies": (
        "moto's interpreter deep-copies a state's input, result and frames with copy.deepcopy several times per state; "
        "they are JSON documents, copied here in one pass without deepcopy's memo (anything else still by deepcopy). "
        "Each reader still gets a copy of its own; one object met twice in a document becomes two equal copies."
    ),
    "cached-action-names": (
        "moto lists a response class's methods (inspect.getmembers) on every request to check the action exists; the "
        "list is computed once per class (the engine's patches replace methods, they add none)."
    ),
    "direct-dynamodb": (
        "A DynamoDB call of any boto3 client, once botocore has checked and serialized its parameters and run its "
        "before-call handlers, goes to moto's DynamoHandler.dispatch in-process: no request signing, no HTTP request, "
        "no search of moto's URL table. moto's parsing, validations, backend and error shapes are unchanged; botocore "
        "parses the answer and raises the same exceptions. The account is the caller's access key's, as before."
    ),
    "lean-dynamodb-results": (
        "Results of GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, BatchGetItem and BatchWriteItem (plain "
        "JSON documents) are written with json.dumps, binary values in base64, instead of moto's serializer, which "
        "walks the output shape for every attribute of every item; the documents are the same."
    ),
    "parsed-conditions": (
        "Each DynamoDB condition expression is parsed once per (expression, names, values): moto parsed a write's "
        "condition twice per request, a quarter of a conditional PutItem's CPU. The tree depends on nothing else "
        "and evaluating it on an item changes nothing in it; moto's checks of each request (unused names) still "
        "run on every request, and an invalid expression is refused every time."
    ),
    "tuned-gc": (
        "While the engine runs, what existed once it started is frozen out of garbage collection (gc.freeze) and the "
        "young generation is collected every 10,000 container allocations instead of 700: the collector spent about "
        "0.6 ms of CPU per spoke, its full collections walking moto's backends and the modules again. The process's "
        "own settings come back when the engine ends."
    ),
}
