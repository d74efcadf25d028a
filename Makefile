# The first two targets are the README's first two commands.
# Python 3.11 to 3.13 (PYTHON=python3.13 make demo); CI runs 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# demo and run need only what the app runs with; the tests and linters add the dev tools.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: demo test run lint typecheck pytest test-postgres smoke bench browser-deps clean

demo: $(RUNTIME)
	$(BIN)/lifelong demo

test: $(DEV) browser-deps lint typecheck pytest

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV)

run: $(RUNTIME)
	$(BIN)/lifelong run

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV)
	$(BIN)/mypy lifelong

pytest: $(DEV)
	$(BIN)/pytest -n 2 -q

# The same suite on PostgreSQL (LIFELONG_DATABASE_URL must point at a server), less the
# browser tests: they drive the pages through Chromium, which the database does not change,
# and they ran on SQLite in `make test` (the smoke test serves PostgreSQL through nginx).
# Running them twice pushed CI past its 40 minutes on this 2-core machine.
test-postgres: $(DEV)
	$(BIN)/pytest -n 2 -q -m 'not slow_import and not browser'

# The deployment in deploy/ started for real: nginx with TLS, PostgreSQL, RabbitMQ, the web
# app, a Celery worker and beat, checked end to end over HTTPS (docs/deployment.md).
smoke: $(DEV)
	$(BIN)/python deploy/smoke/smoke.py

# Debian's Chromium for the browser test; never a downloaded browser build.
browser-deps:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed: browser tests will be skipped"

# Benchmarks print our figures against a baseline run in the same process (bench/README.md).
BENCH_DB ?= postgresql://postgres@127.0.0.1:5432/postgres
bench: $(DEV)
	LIFELONG_DATABASE_URL=$(BENCH_DB) $(BIN)/python bench/import_bench.py
	bench/clv_bench.sh --customers 1000000
	$(BIN)/python bench/segments_bench.py
	LIFELONG_DATABASE_URL= $(BIN)/python bench/journeys_bench.py && LIFELONG_DATABASE_URL= $(BIN)/python bench/dispatch_bench.py
	LIFELONG_DATABASE_URL= $(BIN)/python bench/loyalty_bench.py

clean:
	rm -rf $(VENV) var
