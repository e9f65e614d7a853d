# commentmod: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
DATA_DIR ?= ./var

.PHONY: run test test-fast browser lint typecheck bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

install: $(STAMP)

## Start API + worker + embedded Redis on http://$(HOST):$(PORT) (prints keys and a curl example).
run: $(STAMP)
	$(BIN)/commentmod up --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

## Lint, type-check and run the whole test suite against a real redis-server and headless Chromium.
test: $(STAMP) browser lint typecheck
	$(BIN)/python -m pytest -q

## The fast loop while editing: the suite without the tests that start processes (no lint, no type check).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not procs"

## Debian's Chromium for the page's browser tests (Playwright drives it; it never downloads a browser).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	else echo "note: /usr/bin/chromium missing and not root: browser tests will be skipped"; fi

lint: $(STAMP)
	$(BIN)/ruff check service workers tests scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## Benchmarks: prints a table of figures against the goals (wrk from Debian drives the HTTP load).
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null; } || \
		echo "note: wrk missing: the bench falls back to a slower Python load generator"
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
