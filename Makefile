# Two commands do all the set-up on a fresh machine:
#   make run    the gateway locally (Azurite, Key Vault emulator, demo provider, local Functions host)
#   make test   the whole test suite (installs everything, starts the services it needs)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)

.PHONY: install run stop test test-fast bench bench-load lint clean mutation

install: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for Azurite (install Node.js 18+)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f node_modules/.installed-*; touch $(NODE_STAMP)

## Run the gateway locally on http://localhost:7071 with everything it needs (Ctrl-C stops it all).
run: install
	$(PY) -m devtools.run

## Stop what `make run` started, from another shell.
stop:
	@$(PY) -m devtools.run --stop

## The whole suite: unit, integration (Azurite + Key Vault emulator) and end-to-end (local host).
test: install
	$(PY) -m pytest

## Unit tests only (no services).
test-fast: install
	$(PY) -m pytest tests/unit

## Every benchmark in bench/, printing figures (minutes; the machine should be quiet).
bench: install
	$(PY) -m bench

## The load run alone (50 concurrent clients, 10,000+ requests, memory with 10,000 routes).
bench-load: install
	$(PY) -m bench load

lint: install
	$(PY) -m ruff check .

clean:
	rm -rf .local .pytest_cache .ruff_cache .hypothesis

## Mutation testing of the security-critical modules (minutes): a table per module and every surviving mutant.
## MODULES=paths limits it to matching targets (devtools/mutation/targets.toml).
mutation: install
	$(PY) -m devtools.mutation $(MODULES)
