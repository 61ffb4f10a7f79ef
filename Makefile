# The two commands of the README: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bootstrapped
SITE ?= site

# jsii prints an end-of-life banner for Node 18 (Debian 12's) and 20 in every process; the CDK CLI must stay offline.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20
export CDK_DISABLE_CLI_TELEMETRY := 1
# mkdocs-material prints a banner about its successor on every build.
export NO_MKDOCS_2_WARNING := 1

.PHONY: setup test lint docs format demo synth deploy bench clean

setup: $(STAMP)

$(STAMP): scripts/bootstrap.sh requirements-dev.lock requirements-checkov.txt package-lock.json pyproject.toml
	VENV=$(VENV) bash scripts/bootstrap.sh
	touch $@

## The whole pipeline on a local S3 endpoint with the bundled imagery (see README).
demo: setup
	$(VENV)/bin/imagery-archive demo $(DEMO_ARGS)

## Lint, then the whole test suite.
test: setup lint
	$(VENV)/bin/pytest

## ruff, mypy, the runtime's layers (import-linter contracts in pyproject.toml), and the documentation
## site, built offline with every link checked (mkdocs.yml; the site goes to $(SITE), never committed).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir $(SITE)

## The documentation site, served with live reload on http://127.0.0.1:8000 while you edit docs/.
docs: setup
	$(VENV)/bin/mkdocs serve

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf cdk.out demo_out bench_out $(SITE) .pytest_cache .ruff_cache .mypy_cache

## Synthesize the CloudFormation template offline with the pinned CDK CLI (cdk-nag checks run inside).
synth: setup
	node_modules/.bin/cdk synth --quiet

## Deploy with the pinned CDK CLI. BuildKit must add no attestations: Lambda refuses an image index.
deploy: setup
	BUILDX_NO_DEFAULT_ATTESTATIONS=1 node_modules/.bin/cdk deploy $(CDK_ARGS)

## The performance benchmark: our function against the reference design (the AWS blog's handler),
## gdal_translate and rio-cogeo (about an hour; see BENCHMARKS.md). BENCH_ARGS="--scenes S" is quick.
bench: setup
	$(PY) -m bench.run $(BENCH_ARGS)
