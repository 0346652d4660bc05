# Parley: `make run` starts everything, `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lock run test test-unit test-js lint format chromium bench clean

help:
	@echo "make run    - set up and run the whole system on embedded NATS + SecantusDB"
	@echo "make test   - set up and run every test (unit, integration, widget JS, Chromium e2e)"
	@echo "make lint   - ruff, and mypy (strict on shared/, clean on services, bench, tests)"
	@echo "make lock   - re-pin every dependency in constraints.txt (after editing pyproject.toml)"
	@echo "make bench  - the benchmark suite (at most 15 min): one table, JSON in bench/results/"

# constraints.txt pins every package (direct and transitive) to the versions the tests ran with
$(STAMP): pyproject.toml constraints.txt
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,embedded]'
	@touch $(STAMP)

install: $(STAMP)

# keeps every pin that still fits pyproject.toml; `make lock LOCK_ARGS=--upgrade` moves them all
lock:
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt pip-tools
	$(VENV)/bin/pip-compile --quiet $(LOCK_ARGS) --extra dev --extra embedded --strip-extras \
		--allow-unsafe --no-emit-index-url --no-emit-find-links -o constraints.txt pyproject.toml

run: install
	$(PY) -m services

chromium:
	@bash deploy/ensure-chromium.sh

test-js:
	node --test widget/test/

test: install chromium
	$(PY) -m ruff check .
	$(PY) -m mypy
	node --test widget/test/
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
