# StockInsight — one command for the demo, one for the tests.
#   make demo   set up, then replay real market days through all five functions and serve the API
#   make test   install, then ruff, mypy, cfn-lint and pytest

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install lint typecheck cfn-lint pytest test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared functions runner sandbox

cfn-lint: install
	$(BIN)/cfn-lint template.yaml

pytest: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck cfn-lint pytest

demo: install
	$(BIN)/stockinsight demo

bench: install
	$(BIN)/python benchmarks/coldstart.py

clean:
	rm -rf $(VENV) .local .mypy_cache .ruff_cache .pytest_cache
