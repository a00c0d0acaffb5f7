# The README's two commands: `make serve` starts the command center, `make test` runs the tests.
# Both create .venv and install gridmgr into it on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## serve: start the command center on the embedded default (http://127.0.0.1:8050/)
serve: $(STAMP)
	$(BIN)/gridmgr serve

## test: lint, type-check and run every test (slow, PostgreSQL and browser ones included)
test: lint
	$(BIN)/pytest -n 2 -q

## test-fast: the quick inner loop (skips tests marked slow)
test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports  # the architecture contracts in pyproject.toml

## bench: print the benchmark table (figures next to their anchors, measured in the same run)
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
