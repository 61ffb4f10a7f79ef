# The two commands of the README: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bootstrapped

# jsii prints an end-of-life banner for Node 20 in every process; the CDK CLI must stay offline.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := 1

.PHONY: setup test lint format demo synth deploy bench clean

setup: $(STAMP)

$(STAMP): scripts/bootstrap.sh requirements.txt requirements-dev.txt requirements-checkov.txt lambda_src/requirements.txt stac_api/requirements.txt package.json pyproject.toml
	VENV=$(VENV) bash scripts/bootstrap.sh
	touch $@

## The whole pipeline on a local S3 endpoint with the bundled imagery (see README).
demo: setup
	$(VENV)/bin/imagery-archive demo $(DEMO_ARGS)

## Lint, then the whole test suite.
test: setup lint
	$(VENV)/bin/pytest

## ruff, mypy, and the runtime's layers (import-linter contracts in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf cdk.out demo_out bench_out .pytest_cache .ruff_cache .mypy_cache

## Synthesize the CloudFormation template offline with the pinned CDK CLI (cdk-nag checks run inside).
synth: setup
	node_modules/.bin/cdk synth --quiet

## Deploy with the pinned CDK CLI. BuildKit must add no attestations: Lambda refuses an image index.
deploy: setup
	BUILDX_NO_DEFAULT_ATTESTATIONS=1 node_modules/.bin/cdk deploy $(CDK_ARGS)

## The performance benchmark: our function against the reference design (the AWS blog's handler),
## gdal_translate and rio-cogeo (about 20 minutes; see BENCHMARKS.md). BENCH_ARGS="--scenes S" is quick.
bench: setup
	$(PY) -m bench.run $(BENCH_ARGS)
