# Rapport — the two commands: `make run` and `make test`.
SHELL := /bin/bash
# uv may be missing on a fresh machine: fall back to the module the `uv` target installs.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: run test lint format sync uv bench fuzz chaos

uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

sync: uv
	$(UV) sync --locked --compile-bytecode

run: sync
	$(UV) run --locked python scripts/run_suite.py

# Two pytest-xdist workers, one per core of CI's machines: most tests wait on service processes,
# brokers and databases, so two side by side take about half the time of one. --dist loadfile
# keeps each module on one worker, where its module-scoped fixtures are set up once.
test: sync lint
	$(UV) run --locked pytest -n 2 --dist loadfile

# schemathesis against each service's OpenAPI, in-process with real SQLite and nats-server, at a
# larger budget than the suite's (docs/api.md, "Fuzzing"); RAPPORT_FUZZ_EXAMPLES=500 for more.
fuzz: sync
	RAPPORT_FUZZ_EXAMPLES=$${RAPPORT_FUZZ_EXAMPLES:-50} $(UV) run --locked pytest -q \
		--timeout=3600 tests/test_fuzz_api.py

bench: sync
	$(UV) run --locked python -m bench.run

# Fault injection under load (docs/CHAOS.md): six faults, 5,000 commands each; about 17 minutes.
chaos: sync
	$(UV) run --locked python -m chaos

lint: sync
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	# Strict on all production code.
	$(UV) run --locked mypy shared/src devtools/src services/*/src
	# The layering (pyproject.toml, [tool.importlinter]): shared's groups, domains, services, devtools.
	$(UV) run --locked lint-imports

format: sync
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .
