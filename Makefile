# Two commands for a fresh machine with Python 3.11+ and make:
#   make lab   - create .venv, install wsnb with JupyterLab, open notebooks/
#   make test  - create .venv, install wsnb with its test tools, run every test
.DEFAULT_GOAL := help
.PHONY: help lab test bench lint clean

# The first interpreter found that is Python 3.11 or newer.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
# Two workers: each notebook stays on one worker (--dist loadfile).
PYTEST_ARGS ?= -n 2 --dist loadfile

help:
	@echo "make lab    open the tutorial notebooks in JupyterLab"
	@echo "make test   run the library tests and every notebook (strict nbval)"
	@echo "make bench  run the benchmarks"
	@echo "make lint   ruff format --check, ruff check and mypy --strict"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "wsnb needs Python 3.11 or newer on PATH (or PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

$(VENV)/.lab-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	@touch $@

# Jupyter refuses to run as root unless told; containers often run as root.
lab: $(VENV)/.lab-installed
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/echo.py
	$(BIN)/python benchmarks/broadcast.py
	$(BIN)/python benchmarks/reconnect.py
	$(BIN)/python benchmarks/rooms.py
	$(BIN)/python benchmarks/scaleout.py

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Format, lint (with C901's complexity limit) and strict types; CI runs it first.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff format --check wsnb tests benchmarks
	$(BIN)/ruff check wsnb tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV)
