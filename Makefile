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

.PHONY: install demo serve test test-unit test-integration test-infra test-e2e bench lint synth layer deploy clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	@test -d $(VENV) || $(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip 2>&1 | { grep -vE 'WARNING: Location' || true; }
	@$(BIN)/pip install -q -c constraints.txt -e '.[dev]' 2>&1 | { grep -vE 'WARNING: Location|BuildBackendWarning|^ |^$$' || true; }
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m infra.local.demo

serve: $(STAMP)
	@$(BIN)/python -m infra.local.serve

test: $(STAMP)
	@$(BIN)/python -m pytest -n 2 --dist loadgroup tests/unit tests/integration tests/infra tests/e2e -q

test-unit: $(STAMP)
	@$(BIN)/python -m pytest tests/unit -q

test-integration: $(STAMP)
	@$(BIN)/python -m pytest tests/integration -q

test-infra: $(STAMP)
	@$(BIN)/python -m pytest tests/infra -q

test-e2e: $(STAMP)
	@$(BIN)/python -m pytest tests/e2e -q

bench: $(STAMP)
	@$(BIN)/python -m tests.bench.run

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

# Lambda layer: the cdp package plus its runtime dependencies, built for Lambda (arm64, py3.11).
layer: $(STAMP)
	@rm -rf .build/layer && mkdir -p .build/layer/python
	@$(BIN)/pip install -q -c constraints.txt --target .build/layer/python \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.11 --only-binary=:all: \
		"aws-lambda-powertools[parser]" pydantic pynamodb phonenumbers email-validator orjson segno duckdb
	@cp -r layers/core/python/cdp layers/core/python/cdp_api .build/layer/python/

node_modules/.bin/cdk: package.json
	@npm install --no-audit --no-fund --silent
	@touch $@

synth: $(STAMP) node_modules/.bin/cdk
	@PATH=$(CURDIR)/$(BIN):$$PATH node_modules/.bin/cdk synth --quiet

deploy: layer node_modules/.bin/cdk
	@PATH=$(CURDIR)/$(BIN):$$PATH node_modules/.bin/cdk deploy --require-approval never

clean:
	rm -rf $(VENV) cdk.out .build node_modules .pytest_cache .mypy_cache .ruff_cache
