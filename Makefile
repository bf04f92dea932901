# The one entry point: people and CI run the same targets. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the dependency list changes.
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest
# mypy gets the service packages that exist so far (an empty services/ is not an error).
MYPY_PATHS = src $(sort $(dir $(wildcard services/*/*/__init__.py)))
# Brings a broker when KAFKA_BOOTSTRAP_SERVERS is unset, stops it only if it started it.
WITH_KAFKA := infra/with-kafka.sh
# Unit and integration modules run on JOBS pytest-xdist workers, a module whole on one worker
# (its module-scoped services and topics); service ports are kept apart per worker
# (tests/support/ports.py). Most of a test's time is spent waiting on the broker and service
# processes, so workers outnumber cores (3 per core); longest modules first (tests/conftest.py).
# Fault tests kill their own processes and brokers (each killable broker on ports of its own
# module, tests/support/brokers.py) and measure recovery: they run after everything else, on
# FAULT_JOBS workers (one per core), so that no fast module competes with them for the CPU.
JOBS ?= $(shell echo $$(( 3 * $$(nproc 2>/dev/null || echo 2) )))
FAULT_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PARALLEL = -n $(JOBS) --dist loadfile --no-loadscope-reorder
FAULTS = -m faults -n $(FAULT_JOBS) --dist loadfile --no-loadscope-reorder
PROMETHEUS := infra/prometheus.sh

.PHONY: help venv kafka-fetch kafka-up kafka-down topics schemas test test-fast test-unit \
	test-integration test-faults lint format run up down bench bench-check \
	prometheus-install prometheus-up prometheus-down prometheus-check

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv and install tidings with its dev tools (reruns when pyproject.toml changes)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

kafka-fetch: ## fetch the Apache Kafka jars from Maven Central (cached in infra/kafka/lib)
	infra/kafka.sh fetch

kafka-up: ## start the local single-node KRaft broker on 127.0.0.1:9092
	infra/kafka.sh start

kafka-down: ## stop every local broker this checkout started
	infra/kafka.sh stop

topics: venv ## create missing topics and correct configuration drift (tidings topics ensure)
	$(BIN)/tidings topics ensure

schemas: venv ## register the bundled payload schemas (tidings schemas register --bundled)
	$(BIN)/tidings schemas register --bundled

test: venv kafka-fetch prometheus-install ## the whole suite: test-fast, then the fault tests alone (what .ci/run runs)
	@mkdir -p var/reports
	$(WITH_KAFKA) $(SHELL) -c '$(PYTEST) $(PARALLEL) -m "not faults" -rfE tests \
			| tee var/reports/test-fast.log; fast=$${PIPESTATUS[0]}; \
		$(PYTEST) $(FAULTS) tests; faults=$$?; \
		if (( fast )); then echo "== the fast suite failed (whole log: var/reports/test-fast.log):"; \
			grep -E "^(FAILED|ERROR) " var/reports/test-fast.log || tail -n 40 var/reports/test-fast.log; fi; \
		exit $$(( fast ? fast : faults ))'

test-fast: venv kafka-fetch prometheus-install ## unit and integration tests in parallel, no fault injection (6-7 min on 2 cores)
	$(WITH_KAFKA) $(PYTEST) $(PARALLEL) -m "not faults" tests

test-unit: venv prometheus-install ## unit tests only: no broker
	$(PYTEST) tests/unit

test-integration: venv kafka-fetch ## integration tests against a real broker, in parallel
	$(WITH_KAFKA) $(PYTEST) $(PARALLEL) tests/integration

test-faults: venv kafka-fetch ## fault-injection tests (processes killed, brokers stopped) on FAULT_JOBS workers
	$(WITH_KAFKA) $(PYTEST) $(FAULTS) tests

lint: venv ## ruff check, ruff format --check, mypy --strict, import-linter package boundaries
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_PATHS)
	$(BIN)/lint-imports

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

run: venv kafka-fetch ## foreground: broker, topics, schemas, services, Prometheus; Ctrl-C stops everything
	infra/stack.sh run

up: venv kafka-fetch ## the same in the background; returns when healthy
	infra/stack.sh up

down: ## stop the services, Prometheus and the broker; returns when no process is left
	infra/stack.sh down

prometheus-install: ## install prometheus and promtool (Debian package) when missing
	$(PROMETHEUS) install

prometheus-up: prometheus-install ## Prometheus on 127.0.0.1:9090 scraping the local stack
	$(PROMETHEUS) start

prometheus-down: ## stop the local Prometheus
	$(PROMETHEUS) stop

prometheus-check: prometheus-install ## promtool: config, alert rules and the alert unit tests
	$(PROMETHEUS) check

bench: venv kafka-fetch ## benchmarks B0-B10 vs bare baselines, ~35 min (QUICK=1: ~5 min) -> bench/results/
	@command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	@$(BIN)/python -c "import psutil, matplotlib" 2>/dev/null || \
		$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	$(WITH_KAFKA) $(BIN)/python -m bench.run $(if $(QUICK),--quick)

bench-check: ## B8: fail when a ratio in bench/results/latest.json is >25 % worse than bench/baseline.json
	$(BIN)/python -m bench.check
