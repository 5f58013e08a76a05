# triggerd — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

NODE_STAMP := node_modules/.installed

.PHONY: install run test lint typecheck clean

install: $(STAMP)

# Azurite (the Azure Storage emulator) for the blob tests, pinned in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

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

test: install $(NODE_STAMP) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) node_modules .triggerd .mypy_cache .ruff_cache .pytest_cache
