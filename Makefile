# Seedream jobs: every entry point. `make demo` and `make test` work on a fresh clone:
# they create .venv and install what they need the first time.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.13; find it on PATH or in pyenv, else fall back (clearly) to python3.
# (a pyenv shim can exist without working, so each candidate must actually run)
PY313 := $(shell for p in $$(command -v python3.13 2>/dev/null) $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3 2>/dev/null); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
PYTHON ?= $(if $(PY313),$(PY313),python3)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/core/requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
SAM_VENV := .venv-sam
LINT_VENV := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed-$(shell cat requirements-lint.txt | cksum | cut -d' ' -f1)
SAM_STAMP := $(SAM_VENV)/.installed-$(shell cat requirements-sam.txt | cksum | cut -d' ' -f1)
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

PROVIDER ?= wavespeed
MODEL ?= seedream-v4.5
MAX_IMAGES ?= 4
SIZE ?= 2048*2048
IMAGES ?= examples/astronaut.png
ENTRY ?= http
TEST_WORKERS ?= 3
export PROVIDER MODEL MAX_IMAGES SIZE IMAGES PROMPT ENTRY

.PHONY: help demo test up load lint bench build deploy clean python-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

python-check:
	@if [ -z "$(PY313)" ]; then echo "warning: python3.13 not found (Lambda runs 3.13); using $$($(PYTHON) --version 2>&1). Install 3.13 (e.g. pyenv install 3.13) for parity and for 'sam build'." >&2; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11+ is required, found " + sys.version.split()[0])'

$(STAMP): requirements-dev.txt layers/core/requirements.txt pyproject.toml | python-check
	@echo "==> creating $(VENV) with $$($(PYTHON) --version 2>&1) and installing dependencies (first run only)" >&2
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@$(VPY) -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
	@$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
	@$(VPY) -m pip install --quiet --disable-pip-version-check --no-deps -e . >&2  # the seedream command (.venv/bin/seedream)
	@rm -f $(VENV)/.installed-* && touch $@

# A tool venv of its own: $(1) the venv, $(2) its requirements file, $(3) what it holds (said once, on creation)
define tool-venv
	@echo "==> creating $(1) with $(3) (first run only)" >&2
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@$(1)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
	@$(1)/bin/python -m pip install --quiet --disable-pip-version-check -r $(2) >&2
	@rm -f $(1)/.installed-* && touch $@
endef

# checkov and bandit live in their own venv: checkov pins an older boto3 than the one .venv tests with
$(LINT_STAMP): requirements-lint.txt | python-check
	$(call tool-venv,$(LINT_VENV),requirements-lint.txt,checkov and bandit)

demo: $(STAMP) ## run one edit-sequential job end to end on the local stack (ENTRY=http|s3|eventbridge, PROVIDER, MODEL, MAX_IMAGES, SIZE, PROMPT, IMAGES, TIMEOUT=180, GENERATION_SECONDS=3)
	@$(VPY) -m local.demo

test: $(STAMP) ## the whole test suite (unit + integration on the local stack) in TEST_WORKERS=3 pytest-xdist workers (0: in this process)
	$(VPY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

up: $(STAMP) ## the local stack in the foreground (API_PORT=3000, KEY_API_PORT=3001, WS_PORT=3002, MOTO_PORT=5050, SIMULATOR_PORT=5060, GENERATION_SECONDS=3)
	$(VPY) -m local.stack

load: $(STAMP) ## a burst of jobs at once on its own local stack, one table (N=1000, ENTRY=http|s3|eventbridge, GENERATION_SECONDS=1, PROVIDERS, FAULTS e.g. 429=0.2, TIMEOUT=2400, JSON=path)
	@$(VPY) -m local.load

lint: $(STAMP) $(LINT_STAMP) $(SAM_STAMP) ## ruff, no test writing to a built service, cfn-lint, checkov (template), bandit (code), sam validate --lint
	$(VPY) -m ruff check .
	$(VPY) -m tests.build.service_writes tests
	$(VENV)/bin/cfn-lint template.yaml
	$(LINT_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet
	$(LINT_VENV)/bin/bandit -c pyproject.toml -r layers functions local -q
	$(SAM) validate --lint --region us-east-1

bench: $(STAMP) ## benchmarks against baselines that really run, interleaved (bench/results.json)
	$(VPY) -m bench

# the SAM CLI lives in its own venv: it pins boto3 and click versions of its own
$(SAM_STAMP): requirements-sam.txt | python-check
	$(call tool-venv,$(SAM_VENV),requirements-sam.txt,the SAM CLI)

build: $(SAM_STAMP) ## sam build: the layer for Lambda's python3.13 on arm64 (needs python3.13, found as for .venv)
	@test -n "$(PY313)" || { echo "error: sam build needs CPython 3.13 (the Lambda runtime) on PATH or in pyenv (e.g. pyenv install 3.13); found none" >&2; exit 1; }
	PATH="$$(dirname $(PY313)):$$PATH" $(SAM) build

deploy: build ## sam deploy --guided (then the provider secret and seedream doctor: README, "Deploy to AWS")
	$(SAM) deploy --guided

clean: ## remove the virtualenvs, build output and tool caches (keeps out/, the demo's results)
	rm -rf $(VENV) $(SAM_VENV) $(LINT_VENV) .aws-sam .pytest_cache .ruff_cache .bench *.egg-info
