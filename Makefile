# The first two targets are the README's first two commands.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test run lint typecheck pytest test-postgres bench browser-deps clean

demo: $(STAMP)
	$(BIN)/lifelong demo

test: $(STAMP) browser-deps lint typecheck pytest

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lifelong run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy lifelong

pytest: $(STAMP)
	$(BIN)/pytest -n 2 -q

# The same suite on PostgreSQL (LIFELONG_DATABASE_URL must point at a server).
test-postgres: $(STAMP)
	$(BIN)/pytest -n 2 -q

# Debian's Chromium for the browser test; never a downloaded browser build.
browser-deps:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed: browser tests will be skipped"

# Benchmarks print our figures against a baseline run in the same process (bench/README.md).
BENCH_DB ?= postgresql://postgres@127.0.0.1:5432/postgres
bench: $(STAMP)
	LIFELONG_DATABASE_URL=$(BENCH_DB) $(BIN)/python bench/import_bench.py
	bench/clv_bench.sh --customers 1000000
	$(BIN)/python bench/segments_bench.py
	LIFELONG_DATABASE_URL= $(BIN)/python bench/journeys_bench.py && LIFELONG_DATABASE_URL= $(BIN)/python bench/dispatch_bench.py

clean:
	rm -rf $(VENV) var
