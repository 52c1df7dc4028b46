# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test
DEMO   := $(VENV)/.installed-demo

.PHONY: demo test lint typecheck unit servers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `make demo` installs what the demo runs (the package and its embedded broker), nothing of the tests.
$(DEMO): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]'
	touch $(DEMO)

# `make test` installs the test extra (which carries amqtt too: the tests use the embedded broker).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP) $(DEMO)

demo: $(DEMO)
	$(BIN)/facwatch demo $(ARGS)

# Servers the integration tests start (Mosquitto, PostgreSQL 15): installed from Debian when missing and root.
servers:
	@bash .ci/install-servers

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) servers lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data
