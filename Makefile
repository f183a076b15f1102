# The two commands: `make run` and `make test` (plus `make bench` and `make lint`).
# Each creates the virtual environment in .venv and installs what it needs on first use.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { command -v $$p; break; }; done)

.PHONY: run test bench lint lock install clean

$(STAMP):
	@test -n "$(PYTHON)" || { echo "trialbot needs Python 3.11 or newer (python3.11+ on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/trialbot run

# One test process per core, at most 4 (each test has its own databases, sandbox and bot,
# and PostgreSQL takes 100 connections by default); `make test WORKERS=0` runs in one.
WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest --numprocesses $(WORKERS) --maxprocesses 4

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

# The deployment image's pinned, hashed dependencies (deploy/requirements.lock), after a
# change of pyproject.toml's dependencies; `make lock UPGRADE=1` also takes newer versions.
lock: $(STAMP)
	$(PY) -m pip install --quiet uv
	$(PY) deploy/lock.py $(if $(UPGRADE),--upgrade)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
