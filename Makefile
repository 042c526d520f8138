# make demo: the whole app on this machine (SQLite, Celery on a filesystem transport).
# make test: lint and the whole test suite (SQLite, or PostgreSQL when DATABASE_URL is set).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint install ci screenshots mypy-baseline

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

demo: install
	$(VENV)/bin/python manage.py migrate --no-input
	$(VENV)/bin/python manage.py seed_demo
	$(VENV)/bin/python manage.py run_demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python manage.py makemigrations --check --dry-run

test: install lint
	$(VENV)/bin/python -m pytest -n auto

# What CI runs: PostgreSQL, Redis and chromium, then `make test` against them.
ci:
	bash .ci/run

# Retakes docs/screenshots/*.png; `make test` takes them into a temporary folder.
screenshots: install
	SCREENSHOTS=1 $(VENV)/bin/python -m pytest -m screenshots tests/e2e

# Prints the modules mypy still reports without the baseline block of pyproject.toml, in its
# format: paste them over the block's module list.
mypy-baseline: install
	@sed '/^# mypy baseline: start/,/^# mypy baseline: end/d' pyproject.toml \
		> $(VENV)/mypy-without-baseline.toml
	@$(VENV)/bin/mypy --config-file $(VENV)/mypy-without-baseline.toml --cache-dir /dev/null \
		| grep -o '^[^:]*\.py' | sed 's/\.py$$//; s/\/__init__$$//; s/\//./g' | sort -u \
		| sed 's/.*/    "&",/'
