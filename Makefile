# make demo : install vismic in .venv and run the built-in example
# make test : install vismic with its test extras in .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-all install install-test lint bench fuzz clean

FUZZ_SECONDS ?= 600

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("vismic needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,web]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/vismic demo

test: install-test
	$(BIN)/python -m pytest -q

test-all: install-test
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: install-test
	$(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check src tests benchmarks

bench: install-test
	$(BIN)/python benchmarks/bench_recover.py

fuzz: install-test
	$(BIN)/python tests/fuzz/fuzz_readers.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) demo-output .pytest_cache
