# `make test` is the one command CI and developers run: setup, lint, types, both HA versions.
VENV := .venv
NEXT := .venv-next
PYTEST_ARGS ?=

.PHONY: test setup lint typecheck newest-ha test-current test-next format bench demo soak

test: setup lint typecheck newest-ha test-current test-next

setup:
	@bash scripts/bootstrap.sh

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

# Every homeassistant name the integration imports is still in the newest HA wheel (needs PyPI).
newest-ha: setup
	$(VENV)/bin/python scripts/newest_ha.py

test-current: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-next: setup
	# The 2026 harness reads snapshots/ (a link to __snapshots__) and sees each file twice.
	# The browser test runs once, in test-current: the 2026 venv has no Playwright.
	$(NEXT)/bin/python -m pytest --no-cov --snapshot-warn-unused --ignore=tests/e2e $(PYTEST_ARGS)

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(VENV)/bin/python -m bench

demo: setup
	$(VENV)/bin/python -m demo

# The soak's long run (make test runs a 30 s one): SOAK_MINUTES=30 make soak; SOAK_SEED=n varies it.
SOAK_MINUTES ?= 30
soak: setup
	SOAK_MINUTES=$(SOAK_MINUTES) $(VENV)/bin/python -m pytest tests/soak -m soak --no-cov $(PYTEST_ARGS)
