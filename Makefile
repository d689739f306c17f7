# miniops — every command a developer or operator needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
WORKERS ?= 1
TEST_ARGS ?=
# pytest-xdist workers: one per core (the suite is safe in parallel: each worker has
# its own database, var/ directory, cache prefix and Redis database).
PYTEST_WORKERS ?= auto
PG_URL ?= postgres://postgres@127.0.0.1:5432/miniops
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.DEFAULT_GOAL := help
.PHONY: help demo serve worker install install-dev migrate seed test test-services lint fmt messages bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.runtime: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "miniops needs Python >= 3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.runtime  ## create .venv and install the runtime

install-dev: $(VENV)/.dev  ## also install test and lint tools

migrate: install  ## apply database migrations
	$(PY) manage.py migrate --no-input

seed: migrate  ## load the demo shop (skips what is already there)
	$(PY) manage.py seed_demo

demo: seed  ## set up everything and run the product with demo data on http://$(HOST):$(PORT)
	$(PY) manage.py serve --host $(HOST) --port $(PORT) --workers $(WORKERS) --print-logins

serve: migrate  ## run the web server (and the in-process worker on the embedded default)
	$(PY) manage.py serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

worker: install  ## run the background worker on its own (with REDIS_URL set)
	$(PY) manage.py worker

test: install-dev  ## run the whole suite on the embedded default (SQLite, local cache)
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -n $(PYTEST_WORKERS) $(TEST_ARGS)

test-services: install-dev  ## run the whole suite on PostgreSQL + Redis
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} REDIS_URL=$${REDIS_URL:-$(REDIS_TEST_URL)} \
		$(PY) -m pytest -n $(PYTEST_WORKERS) $(TEST_ARGS)

lint: install-dev  ## ruff check, ruff format --check, mypy, import contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy miniops
	$(VENV)/bin/lint-imports

fmt: install-dev  ## format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

messages: install-dev  ## refresh the zh-Hans catalogue after adding strings, then compile it
	cd miniops && ../$(PY) ../manage.py makemessages -l zh_Hans --no-location --no-wrap
	cd miniops && ../$(PY) ../manage.py compilemessages -l zh_Hans

bench: install-dev  ## run the benchmarks (see bench/README.md)
	$(PY) bench/run.py

clean:  ## remove the virtualenv and local data (var/)
	rm -rf $(VENV) var
