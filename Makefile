# The README's two commands: `make run` and `make test`. Each sets itself up.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.nasnav-installed
PYTEST_ARGS ?=
## Test workers (pytest-xdist; each serves its browser tests on its own ports). WORKERS=0: one process.
WORKERS ?= 2

.PHONY: run test lint venv clean browser-deps

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[app,dask,dev]"
	touch $@

venv: $(STAMP)

## Set up and start the app on the embedded default dataset (no download):
## http://127.0.0.1:8050/ ; pass ARGS="--port 8060 --benchmark csv:PATH ..." to change.
ARGS ?=
run: $(STAMP)
	$(BIN)/nasnav serve $(ARGS)

## Headless Chromium + driver for the browser tests (Debian/Ubuntu; skipped if present).
browser-deps:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }

## Set up and run the whole test suite (lint included).
test: $(STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --headless -n $(WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
