# The README's two set-up commands are `make demo` and `make test`; both build
# the virtual environment they need from scratch on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The dev+bench environment resolves against this on every Python (why: see the file).
CONSTRAINTS := constraints/bench.txt
# pytest exits 5 when it collected no test: in CI that means a broken selection or
# layout, so it fails with a sentence instead of a bare status.
RUN_PYTEST = rc=0; $(1) -m pytest $(2) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests ($(1)): check tests/ and testpaths" >&2; fi; \
	exit $$rc

.PHONY: demo example test services lint typecheck docs catalogue pytest bench matrix clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev,bench,docs]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/python examples/demo.py

# One of the three systems in examples/ (food_delivery, bookings, reservations), with
# console output and no backend: `make example NAME=food_delivery`. Each is a package whose
# __main__ starts its servers and drives its traffic script (see its README).
NAME ?= food_delivery
example: $(VENV)/.dev-installed
	$(BIN)/python -m examples.$(NAME)

# Real servers the suite starts on loopback ports, as "<command or path glob>=<Debian
# package>": each package is installed (as root) only when its probe finds nothing.
SERVICES := '/usr/lib/postgresql/*/bin/initdb=postgresql' 'redis-server=redis-server' \
	'promtool=prometheus' 'amtool=prometheus-alertmanager'
services:
	@.ci/install-services $(SERVICES)

test: services $(VENV)/.dev-installed lint typecheck docs pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks examples docs/_gen
	$(BIN)/ruff format --check src tests benchmarks examples docs/_gen

# The documentation site, strict: a broken link, a page missing from the navigation or a
# docstring mkdocstrings cannot read fails the build (and so `make test`). It needs no
# network. The site is written to site/ (not committed).
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Regenerate the metric catalogue (docs/reference/metrics.md) from the instruments and
# the semantic-convention module; tests/test_docs.py fails while the page is stale.
catalogue: $(VENV)/.dev-installed
	$(BIN)/python docs/_gen/catalogue.py

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	@$(call RUN_PYTEST,$(BIN)/python,)

# Every suite, in full. The results go to docs/performance/results.json (a module run alone
# with BENCH=name replaces only its own rows; a failed module keeps its old ones) and the
# charts of docs/performance.md are drawn again from them. Commit both: tests/test_docs.py
# fails while the charts are stale.
bench: $(VENV)/.dev-installed
	rc=0; $(BIN)/python -m benchmarks.run --json docs/performance/results.json $(BENCH) || rc=$$?; \
	$(BIN)/python docs/_gen/benchcharts.py && exit $$rc

# The test suite on every supported Python this machine has (CI runs it after
# `make test`). The version `make test` already ran in .venv is not run twice; a
# version that is not installed is reported and skipped.
MATRIX ?= 3.10 3.11 3.12 3.13
matrix:
	@for v in $(MATRIX); do \
	  if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$$v" ]; then \
	    echo "matrix: python$$v is .venv's (make test)"; continue; \
	  fi; \
	  py=""; \
	  if python$$v -c pass >/dev/null 2>&1; then py=python$$v; \
	  elif command -v pyenv >/dev/null 2>&1; then \
	    for d in "$$(pyenv root)"/versions/$$v.*; do [ -x "$$d/bin/python$$v" ] && py="$$d/bin/python$$v"; done; \
	  fi; \
	  if [ -z "$$py" ]; then echo "matrix: python$$v not found, skipped"; continue; fi; \
	  echo "matrix: python$$v ($$py)"; \
	  [ -x .venv-$$v/bin/python ] || "$$py" -m venv .venv-$$v || exit 1; \
	  if [ ! .venv-$$v/.dev-installed -nt pyproject.toml ] || [ ! .venv-$$v/.dev-installed -nt $(CONSTRAINTS) ]; then \
	    .venv-$$v/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev,bench]' || exit 1; \
	    touch .venv-$$v/.dev-installed; \
	  fi; \
	  ( $(call RUN_PYTEST,.venv-$$v/bin/python,-q -p no:cacheprovider) ) || exit 1; \
	done

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache
