# The README's two set-up commands are `make demo` and `make test`; both build
# the virtual environment they need from scratch on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench matrix clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/python examples/demo.py

test: $(VENV)/.dev-installed lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

bench: $(VENV)/.dev-installed
	$(BIN)/python -m benchmarks.run $(BENCH)

# The test suite on other Pythons this machine has (CI runs it after `make test`);
# a version that is not installed is reported and skipped. 3.12 is not in the
# default list: pip cannot resolve the bench extra's peers there (logfire and the
# contrib instrumentations pin different semantic-conventions releases).
MATRIX ?= 3.10
matrix:
	@for v in $(MATRIX); do \
	  py=""; \
	  if python$$v -c pass >/dev/null 2>&1; then py=python$$v; \
	  elif command -v pyenv >/dev/null 2>&1; then \
	    for d in "$$(pyenv root)"/versions/$$v.*; do [ -x "$$d/bin/python$$v" ] && py="$$d/bin/python$$v"; done; \
	  fi; \
	  if [ -z "$$py" ]; then echo "matrix: python$$v not found, skipped"; continue; fi; \
	  echo "matrix: python$$v ($$py)"; \
	  [ -x .venv-$$v/bin/python ] || "$$py" -m venv .venv-$$v || exit 1; \
	  .venv-$$v/bin/python -m pip install --quiet -e '.[dev,bench]' || exit 1; \
	  .venv-$$v/bin/python -m pytest -q -p no:cacheprovider || exit 1; \
	done

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache
