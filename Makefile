# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-deep chromium lint format openapi migrate worker bench-matching bench-relevance bench-api load seed bench-seed clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/rapport serve

# Each database's suite should stay under 8 minutes: --durations names the slowest tests; -rs says
# why each skipped test skipped (a skip is never a pass).
# Two pytest-xdist workers (the machine's 2 cores), each with its own database (conftest makes
# one per session) and a whole test file at a time (--dist loadfile: a module's fixtures, such as
# test_deployment's installed image, are built once), the longest files first (conftest's
# LONGEST_FILES; --no-loadscope-reorder keeps that order). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
PYTEST_SUITE := $(BIN)/python -m pytest -q -rs --durations=15 -n $(TEST_WORKERS) --dist loadfile \
	--no-loadscope-reorder

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@echo "== test suite on SQLite =="
	$(PYTEST_SUITE)
	@echo "== test suite on PostgreSQL =="
	RAPPORT_TEST_BACKEND=postgresql $(PYTEST_SUITE)
	$(MAKE) --no-print-directory test-deep

# What the default suite runs small, run big once: the ledger's hypothesis state machine for
# 10,000 steps on SQLite (≈ 2-4 min on 2 cores), and the partner flow with 1,000 creators instead
# of 100 on PostgreSQL (≈ 2 min on a quiet machine, 6 on a busy one).
test-deep: $(STAMP)
	@echo "== deep: the ledger state machine, 10,000 steps on SQLite =="
	RAPPORT_LEDGER_STEPS=10000 $(BIN)/python -m pytest -q tests/test_ledger.py -k state_machine
	@echo "== deep: a creator tool onboards 1,000 creators and runs a deal, on PostgreSQL =="
	RAPPORT_PARTNER_CREATORS=1000 RAPPORT_TEST_BACKEND=postgresql $(BIN)/python -m pytest -q \
		tests/test_partner_onboarding.py

# Headless Chromium for tests/test_browser_docs.py (Debian's packages), installed when missing and
# when this is a root shell with apt-get; otherwise that test says what to install (and fails
# under CI=true).
chromium:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium and chromium-driver for the browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null; } \
		|| echo "note: could not install chromium: the browser test will say so"; \
	else echo "note: no chromium/chromedriver and no root apt-get: the browser test will say so"; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(STAMP)
	$(BIN)/rapport openapi

migrate: $(STAMP)
	$(BIN)/rapport migrate

# A synthetic marketplace (10,000 listings) in the configured database; see docs/catalogue.md.
seed: $(STAMP)
	$(BIN)/rapport seed

# 1,000,000 listings into a scratch PostgreSQL database, timed (≈ 10 min on 2 cores); the run is
# appended to benchmarks/seed/results.json.
bench-seed: $(STAMP)
	$(BIN)/python benchmarks/seed/bench.py --listings 1000000 --brands 1000 --briefs 1000 \
		--json benchmarks/seed/results.json

# The matching benchmark at 100k and 1M listings, throughput through HTTP (wrk) and memory per node
# (≈ 15 min on 2 cores; needs wrk: apt-get install wrk); results are merged into
# benchmarks/matching/results.json and rendered to results.md.
bench-matching: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { echo "bench-matching needs wrk (throughput.py): apt-get install -y wrk"; exit 1; }
	$(BIN)/python benchmarks/matching/bench.py --listings 100000 --briefs 50 --seed 1 \
		--json benchmarks/matching/results.json --markdown benchmarks/matching/results.md
	$(BIN)/python benchmarks/matching/bench.py --listings 1000000 --briefs 50 --seed 1 \
		--json benchmarks/matching/results.json --markdown benchmarks/matching/results.md
	$(BIN)/python benchmarks/matching/throughput.py --listings 100000 --duration 20 \
		--json benchmarks/matching/scaling.json --markdown benchmarks/matching/scaling.md
	$(BIN)/python benchmarks/matching/memory.py --listings 1000000 --generate 50000 \
		--json benchmarks/matching/scaling.json --markdown benchmarks/matching/scaling.md

# Relevance from outside (≈ 60 min on 2 cores): worlds of four generators (rapport_dev/world2,
# rapport_dev/seed, rapport_dev/world3, rapport_dev/world4), seeds 1-3, loaded through the HTTP API into fresh
# SQLite databases and ranked by GET /v1/briefs/{id}/matches, with the ablation; see
# benchmarks/matching/README.md.
bench-relevance: $(STAMP)
	$(BIN)/python benchmarks/matching/outside.py --seeds 1 2 3 --creators 3000 --briefs 40 \
		--json benchmarks/matching/outside.json --markdown benchmarks/matching/outside.md

# Rapport against a minimal Starlette + asyncpg app doing the same work on the same PostgreSQL
# (≈ 5 min on 2 cores): req/s, CPU and database round trips per request, and a py-spy profile of
# the single-brief read; see benchmarks/api/README.md. Needs wrk (Debian: apt-get install wrk).
bench-api: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { echo "bench-api needs wrk: apt-get install -y wrk"; exit 1; }
	$(BIN)/python benchmarks/api/bench.py --json benchmarks/api/results.json \
		--markdown benchmarks/api/results.md --profile benchmarks/api/profile

# The whole marketplace flow for 60 s against two API processes and two workers on a scratch
# PostgreSQL database, then the money checked; then the same with a worker and an API process
# killed mid-run (≈ 6 min on 2 cores); see benchmarks/load/README.md.
# `make load REPLICA=1`: instead, the run on a scratch primary cluster, then on that primary with
# a streaming standby the catalogue's reads come from (both clusters started and removed by the
# script, ≈ 7 min).
load: $(STAMP)
ifdef REPLICA
	$(BIN)/python benchmarks/load/run.py --duration 60 --scratch-primary --browsers 4 \
		--json benchmarks/load/results.json --markdown benchmarks/load/results.md
	$(BIN)/python benchmarks/load/run.py --duration 60 --replica --browsers 4 \
		--json benchmarks/load/results.json --markdown benchmarks/load/results.md
else
	$(BIN)/python benchmarks/load/run.py --duration 60 \
		--json benchmarks/load/results.json --markdown benchmarks/load/results.md
	$(BIN)/python benchmarks/load/run.py --duration 60 --kill \
		--json benchmarks/load/results.json --markdown benchmarks/load/results.md
endif

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
