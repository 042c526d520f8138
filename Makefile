# make demo: the whole app on this machine (SQLite, Celery on a filesystem transport).
# make test: ruff and the whole test suite (SQLite, or PostgreSQL when DATABASE_URL is set).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint install ci

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

test: install lint
	$(VENV)/bin/python -m pytest
