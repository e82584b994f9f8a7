# spendwatch: `make demo` and `make test` work on a fresh machine; `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUICK ?=
PYTEST_ARGS ?=

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36mmake %-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install spendwatch with its dev tools

system-deps: ## Install the Debian packages tests need (prometheus, chromium) when missing
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$(echo $$missing | tr ' ' '\n' | sort -u) >/dev/null; \
	fi

test: install system-deps ## Run the whole suite (SQLite, PostgreSQL, Prometheus, browser)
	@export SPENDWATCH_TEST_PG_URL="$$(scripts/ensure_postgres.sh)"; \
	echo "PostgreSQL for tests: $$SPENDWATCH_TEST_PG_URL"; \
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: install ## Build the demo warehouse from the real samples and open the dashboard
	$(BIN)/spendwatch demo $(DEMO_ARGS)

bench: install ## Benchmarks with same-run baselines (QUICK=1 for a tenth of the size)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

.PHONY: help install system-deps test lint format demo bench
