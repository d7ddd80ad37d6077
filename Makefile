# Two commands do all the set-up: `make demo` runs the pipeline on the embedded engine,
# `make test` runs the test suite (what CI runs). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOME_DIR ?= lakehouse

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/distillguard --home $(HOME_DIR) demo $(if $(SAIL_MODE),--mode $(SAIL_MODE))

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/generator_throughput.py

clean:
	rm -rf $(HOME_DIR) .pytest_cache
