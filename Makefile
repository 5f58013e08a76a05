# triggerd — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

NODE_STAMP := node_modules/.installed
CHROMIUM   := /usr/bin/chromium

.PHONY: install run test lint typecheck clean lock screenshots

install: $(STAMP)

# Azurite (the Azure Storage emulator) for the blob tests, pinned in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Debian's Chromium, which Playwright drives in the browser tests (tests/browser) and for the
# screenshots; Playwright's own browser download is never used. Installed once if missing: as
# root, else with sudo (apt-get update only when the install fails without it).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then sudo=; \
	elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	else echo "make: $(CHROMIUM) is missing; install it as root: apt-get install -y chromium" >&2; exit 1; fi; \
	command -v apt-get >/dev/null 2>&1 || { echo "make: $(CHROMIUM) is missing and there is no apt-get; install Chromium so that $(CHROMIUM) runs it" >&2; exit 1; }; \
	apt="$$sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -y"; \
	$$apt install chromium || { $$apt update && $$apt install chromium; }
	test -x $(CHROMIUM)

# The virtualenv is rebuilt whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Runs the daemon in the foreground on config/ with embedded SQLite under .triggerd/.
run: install
	$(BIN)/triggerd run --config config

lint: install
	$(BIN)/ruff check triggerd tests bench
	$(BIN)/ruff format --check triggerd tests bench

typecheck: install
	$(BIN)/mypy

test: install $(NODE_STAMP) $(CHROMIUM) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

# docs/screenshots/*.png, regenerated: a daemon on a throwaway config with a few runs, each page
# in Chromium 1280 px wide (tests/browser/screenshots.py).
screenshots: install $(CHROMIUM)
	$(BIN)/python -m tests.browser.screenshots

# requirements.lock (what the image runs on) and requirements-build.lock (what builds the
# package in it): every version pinned, with hashes, resolved from pyproject.toml by pip-tools
# in a throwaway virtualenv. Run it after changing a dependency; the pins you have stay unless
# pyproject.toml rules them out, and `make lock UPGRADE=1` moves them all to the newest allowed.
# It resolves for the interpreter it runs on, so it insists on the image's: CPython 3.11, Linux
# x86_64 (tests/unit/test_lockfile.py checks the result against pyproject.toml).
PIP_TOOLS   := pip-tools==7.6.2
LOCK_FLAGS  := --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
               $(if $(UPGRADE),--upgrade)
lock:
	@$(PYTHON) -c 'import platform, sys; sys.exit(None if sys.version_info[:2] == (3, 11) and platform.system() == "Linux" and platform.machine() == "x86_64" else "make lock: run it with CPython 3.11 on Linux x86_64, as in the image (PYTHON=python3.11)")'
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	&& $(PYTHON) -m venv "$$tmp" \
	&& "$$tmp/bin/python" -m pip install --quiet $(PIP_TOOLS) \
	&& export CUSTOM_COMPILE_COMMAND="make lock" \
	&& "$$tmp/bin/pip-compile" $(LOCK_FLAGS) --extra postgres \
	   --output-file requirements.lock pyproject.toml \
	&& "$$tmp/bin/pip-compile" $(LOCK_FLAGS) --only-build-deps --build-deps-for wheel --allow-unsafe \
	   --output-file requirements-build.lock pyproject.toml

clean:
	rm -rf $(VENV) node_modules .triggerd .mypy_cache .ruff_cache .pytest_cache
