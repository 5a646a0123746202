# Two commands matter: `make demo` and `make test`. Everything installs itself on first run.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install console demo serve test test-scale test-unit test-integration test-infra test-e2e bench lint synth layer layer-check deploy replay clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	@test -d $(VENV) || $(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip 2>&1 | { grep -vE 'WARNING: Location' || true; }
	@$(BIN)/pip install -q -c constraints.txt -e '.[dev]' 2>&1 | { grep -vE 'WARNING: Location|BuildBackendWarning|^ |^$$' || true; }
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m infra.local.demo

serve: $(STAMP) console
	@$(BIN)/python -m infra.local.serve

# The marketer's console (console/, Vite): npm ci when the lock file changed, then a build into
# console/dist when any source changed; up to date, it does nothing.
CONSOLE_SOURCES := $(shell find console/src console/public -type f 2>/dev/null) console/index.html console/vite.config.js console/package.json
console/node_modules/.installed: console/package-lock.json
	@cd console && npm ci --no-audit --no-fund --silent
	@touch $@

console/dist/index.html: console/node_modules/.installed $(CONSOLE_SOURCES)
	@cd console && node_modules/.bin/vite build --logLevel warn
	@touch $@

console: console/dist/index.html

# Lint gates the suite (ruff, mypy strict on cdp and cdp_api). The suite checks every AWS call the
# functions make against their IAM policies (tests/iam, Node).
test: $(STAMP) lint node_modules/.bin/cdk console
	@$(BIN)/python -m pytest -n 2 --dist loadgroup tests/unit tests/iam tests/integration tests/infra tests/e2e -q

# The scenario-sized journey proof (1,000 people through an A/B split with a holdout): about
# 13 minutes on 2 cores, so it runs beside the suite in CI rather than inside its 15 minutes.
test-scale: $(STAMP) node_modules/.bin/cdk
	@CDP_E2E_AB_PEOPLE=1000 $(BIN)/python -m pytest tests/e2e/test_journeys_ab.py -q -p no:randomly

test-unit: $(STAMP)
	@$(BIN)/python -m pytest tests/unit -q

test-integration: $(STAMP) node_modules/.bin/cdk
	@$(BIN)/python -m pytest tests/integration -q

test-infra: $(STAMP)
	@$(BIN)/python -m pytest tests/infra -q

test-e2e: $(STAMP) node_modules/.bin/cdk
	@$(BIN)/python -m pytest tests/e2e -q

bench: $(STAMP)
	@$(BIN)/python -m tests.bench.run

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

# Lambda layers for arm64 / python3.11 (infra/layer_build.py): .build/layer-core (cdp and
# pyproject's dependencies, every function) and .build/layer-analytics (the `analytics` extra:
# DuckDB, archive readers only). Prints each layer's and each function's unzipped size.
layer: $(STAMP)
	@$(BIN)/python -m infra.layer_build build

# Resolves every layer's dependencies for the Lambda runtime without installing them (CI runs it),
# and checks that every third-party module the functions import is declared for a layer.
layer-check: $(STAMP)
	@$(BIN)/python -m infra.layer_build check

node_modules/.bin/cdk: package.json
	@npm install --no-audit --no-fund --silent
	@touch $@

synth: $(STAMP) node_modules/.bin/cdk console
	@PATH=$(CURDIR)/$(BIN):$$PATH node_modules/.bin/cdk synth --quiet

deploy: layer node_modules/.bin/cdk console
	@PATH=$(CURDIR)/$(BIN):$$PATH node_modules/.bin/cdk deploy --require-approval never

# The processor's dead letters: `make replay ARGS="replay --dry-run"` (see python -m cdp_ops.replay -h).
replay: $(STAMP)
	@$(BIN)/python -m cdp_ops.replay $(ARGS)

clean:
	rm -rf $(VENV) cdk.out .build node_modules .pytest_cache .mypy_cache .ruff_cache
