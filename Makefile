# The two commands of the README. Both set up first (scripts/setup.sh is idempotent and quick when done).
.PHONY: setup run test test-fast lint clean

VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= autopilot

setup:
	@bash scripts/setup.sh

run: setup
	$(BIN)/autopilot run -w $(WORKSPACE) --trials 8

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The tests without real processes (seconds); `make test` runs everything.
test-fast: setup
	$(BIN)/pytest -m "not slow"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
