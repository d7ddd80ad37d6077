# Two commands do all the set-up: `make demo` runs the pipeline on the embedded engine,
# `make test` runs the lint checks and the test suite (what CI runs). Both create .venv on first use,
# with the local engine (the `local` extra: Sail, pyspark, GX[spark], delta-spark).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOME_DIR ?= lakehouse

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[local,test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/distillguard --home $(HOME_DIR) demo $(if $(SAIL_MODE),--mode $(SAIL_MODE))

# Lint and format checks first: the same files `ruff check --fix` and `ruff format` rewrite
# at the repository root ([tool.ruff] in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/generator_throughput.py

clean:
	rm -rf $(HOME_DIR) .pytest_cache
