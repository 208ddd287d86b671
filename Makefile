# poagate — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps demo test lint typecheck unit bench clean

install: $(STAMP)

# The venv is rebuilt when the project's dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/poagate demo

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

# The tests start their own PostgreSQL server from Debian's binaries (never the machine's own
# server); install the package when the binaries are missing.
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL's server binaries (Debian package postgresql) for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

unit: install system-deps
	$(BIN)/pytest -q

test: lint typecheck unit

bench: install system-deps
	$(BIN)/python benchmarks/replay.py
	$(BIN)/python benchmarks/http.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/storm.py
	$(BIN)/python benchmarks/vs_alertmanager.py
	$(BIN)/python benchmarks/profile.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
