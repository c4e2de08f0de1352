# The commands the README names. `make test` builds everything it needs from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OIDC_OP := tests/oidc_op
PYTEST_ARGS ?=

.PHONY: demo demo-postgres test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(OIDC_OP)/node_modules/.package-lock.json: $(OIDC_OP)/package-lock.json
	npm ci --prefix $(OIDC_OP) --no-audit --no-fund --loglevel=error

## Run the demo app with the dashboard at http://localhost:8000/flare (SQLite flare.db).
demo: $(STAMP)
	$(BIN)/uvicorn examples.example:app --port 8000

## The same demo on PostgreSQL (FLARE_PG_DSN defaults to the local test server).
demo-postgres: $(STAMP)
	FLARE_PG_DSN=$${FLARE_PG_DSN:-postgresql://root@127.0.0.1:5432/test} \
		$(BIN)/uvicorn examples.example_postgres:app --port 8000

## Run the whole test suite (creates .venv and installs what it needs).
test: $(STAMP) $(OIDC_OP)/node_modules/.package-lock.json
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Run every benchmark and write benchmarks/results/.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) $(OIDC_OP)/node_modules dist build .pytest_cache .mypy_cache .ruff_cache
