# Parley: `make run` starts everything, `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-js lint format chromium bench clean

help:
	@echo "make run    - set up and run the whole system on embedded NATS + SecantusDB"
	@echo "make test   - set up and run every test (unit, integration, widget JS, Chromium e2e)"
	@echo "make lint   - ruff"
	@echo "make bench  - run the benchmarks under bench/ and print their figures"

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,embedded]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m services

chromium:
	@bash deploy/ensure-chromium.sh

test-js:
	node --test widget/test/

test: install chromium
	$(PY) -m ruff check .
	node --test widget/test/
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
