# poagate — the commands a newcomer needs are `make demo`, `make check` (the everyday loop) and
# `make test` (everything, as CI runs it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps templates demo check test lint typecheck fast-tests all-tests bench soak \
	screenshots clean

install: $(STAMP)

# The venv is rebuilt when the project's dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/poagate demo

# The layer rules (docs/architecture.md) are import-linter contracts in pyproject.toml; beside
# them, no module of src/ may pass 500 lines.
lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports --no-logo
	$(BIN)/python scripts/check_module_size.py

typecheck: install
	$(BIN)/mypy

# The tests start their own PostgreSQL server from Debian's binaries (never the machine's own
# server), check the alerting rules with Debian's promtool (package prometheus, unpacked into
# an ignored cache rather than installed: installing it would start a Prometheus server), and
# the console's browser tests drive Debian's Chromium (Playwright's own
# browser download is never used); install the packages when they are missing.
PROMTOOL_DIR := .cache/prometheus
PROMTOOL := $(PROMTOOL_DIR)/usr/bin/promtool

system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL's server binaries (Debian package postgresql) for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if ! command -v promtool >/dev/null 2>&1 && [ ! -x $(PROMTOOL) ]; then \
		echo "Fetching promtool (Debian package prometheus, unpacked into $(PROMTOOL_DIR))"; \
		apt-get update -qq && rm -rf $(PROMTOOL_DIR) && mkdir -p $(PROMTOOL_DIR) && \
		cd $(PROMTOOL_DIR) && apt-get download prometheus 2>/dev/null && \
		dpkg-deb -x prometheus_*.deb . && rm prometheus_*.deb; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Chromium (Debian package chromium) for the console's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# The DCC's DUIS request templates the tests read: the npm package @smartdcc/duis-templates
# (GPL-3.0), pinned by version and by its tarball's SHA-256, fetched into an ignored cache and
# never committed. The stamp names the version, so a new pin fetches again and a warm cache costs
# nothing. npm comes from Debian's package npm when it is missing.
TEMPLATES_PACKAGE := @smartdcc/duis-templates
TEMPLATES_VERSION := 0.7.0
TEMPLATES_SHA256 := eb360e24b38ef2cb4536675496407b085baa581fdb10ac4a55fac47ca177bc49
TEMPLATES_DIR := .cache/duis-templates
TEMPLATES_TARBALL := smartdcc-duis-templates-$(TEMPLATES_VERSION).tgz
TEMPLATES_STAMP := $(TEMPLATES_DIR)/.extracted-$(TEMPLATES_VERSION)

templates: $(TEMPLATES_STAMP)

$(TEMPLATES_STAMP):
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "Installing npm (Debian package npm) to fetch the DCC's DUIS templates"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	fi
	@echo "Fetching $(TEMPLATES_PACKAGE)@$(TEMPLATES_VERSION) into $(TEMPLATES_DIR)"
	@rm -rf $(TEMPLATES_DIR) && mkdir -p $(TEMPLATES_DIR)
	@cd $(TEMPLATES_DIR) && npm pack --silent $(TEMPLATES_PACKAGE)@$(TEMPLATES_VERSION) >/dev/null
	@echo "$(TEMPLATES_SHA256)  $(TEMPLATES_DIR)/$(TEMPLATES_TARBALL)" | sha256sum --check --quiet \
		|| { echo "$(TEMPLATES_TARBALL) does not have the pinned SHA-256; not using it" >&2; \
		     rm -rf $(TEMPLATES_DIR); exit 1; }
	@tar -xzf $(TEMPLATES_DIR)/$(TEMPLATES_TARBALL) -C $(TEMPLATES_DIR)
	@touch $@

# The everyday loop, under a minute: lint, types and the fast tier — the tests marked `fast`
# (tests/unit/, tests/decision_path/ on the in-memory store, and any other test marked so:
# tests/conftest.py says which belong).
# One process: starting pytest-xdist's workers costs more than it saves here.
check: lint typecheck fast-tests

fast-tests: install templates
	$(BIN)/pytest -q --durations=5 -m fast -n 0

# Everything, as CI runs it. Two workers (pytest-xdist), each test file whole on one of them
# (module fixtures such as the browser's server stay together): the suite mostly waits on
# servers and subprocesses. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

all-tests: install system-deps templates
	$(BIN)/pytest -q --durations=25 -n $(TEST_WORKERS) --dist loadfile

test: lint typecheck all-tests

bench: install system-deps
	$(BIN)/python benchmarks/replay.py
	$(BIN)/python benchmarks/http.py --chart
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/storm.py
	$(BIN)/python benchmarks/controls.py
	$(BIN)/python benchmarks/verification.py
	$(BIN)/python benchmarks/vs_alertmanager.py
	$(BIN)/python benchmarks/profile.py
	$(BIN)/python benchmarks/fleet.py --chart
	$(BIN)/python benchmarks/deliveries.py

# Thirty minutes of a storm through two servers on PostgreSQL, memory and p99 by minute, and
# nothing lost (docs/performance.md "Soak"); make test runs a shortened one
# (tests/faults/test_soak.py).
soak: install system-deps
	$(BIN)/python benchmarks/soak.py

# The console's screenshots in docs/img (docs/console.md), taken on the demo's data.
screenshots: install system-deps
	$(BIN)/python scripts/console_screenshots.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .cache .import_linter_cache
