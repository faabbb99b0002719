# The README's two commands: `make run` and `make test`. Each sets itself up.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.nasnav-installed
PYTEST_ARGS ?=

.PHONY: run test lint venv clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[app,dev]"
	touch $@

venv: $(STAMP)

## Set up and start nasnav on the embedded default dataset (no download).
run: $(STAMP)
	$(BIN)/nasnav demo

## Set up and run the whole test suite (lint included).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
