# Two commands do all the set-up on a fresh machine:
#   make run    the gateway locally (Azurite, Key Vault emulator, demo provider, local Functions host)
#   make test   the static checks, then the whole test suite (installs everything, starts the services it needs)

# The functions run on Python 3.13 (as in Azure): the first of these that is 3.13 makes the venv.
# With pyenv, the .python-version file of this directory selects 3.13 for `python3`.
PYTHON_VERSION := 3.13
IS_PY313 := import sys; sys.exit(sys.version_info[:2] != (3, 13))
PYTHON ?= $(shell for p in python$(PYTHON_VERSION) python3 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c '$(IS_PY313)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-py$(PYTHON_VERSION)-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)

.PHONY: install infra-tools dstu2-validator run stop check test test-fast bench bench-load lint clean mutation

install: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PY) -c '$(IS_PY313)' >/dev/null 2>&1 || { \
		test -n "$(PYTHON)" || { echo "Python $(PYTHON_VERSION) is required and none was found (tried python$(PYTHON_VERSION), python3, python)." \
			"Install it (e.g. pyenv install $(PYTHON_VERSION)) or run: make PYTHON=/path/to/python$(PYTHON_VERSION) ..." >&2; exit 1; }; \
		echo "Creating $(VENV) with $$($(PYTHON) --version)"; rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for Azurite (install Node.js 18+)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f node_modules/.installed-*; touch $(NODE_STAMP)

## Tools of the infra/ checks (checkov, pycep-parser, DuckDB KQL) in their own venv: their pins clash with the app's.
INFRA_VENV   ?= .venv-infra
INFRA_PYTHON ?= $(PYTHON)
INFRA_STAMP  := $(INFRA_VENV)/.installed-$(shell { $(INFRA_PYTHON) -V; cat requirements-infra.txt; } 2>&1 | cksum | cut -d' ' -f1)

infra-tools: $(INFRA_STAMP)

$(INFRA_STAMP): requirements-infra.txt
	@test "$$($(INFRA_VENV)/bin/python -V 2>&1)" = "$$($(INFRA_PYTHON) -V 2>&1)" \
		|| { rm -rf $(INFRA_VENV) && $(INFRA_PYTHON) -m venv $(INFRA_VENV); }
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/python -m pip install --quiet $$(grep -Ev '^(#|$$|pycep-parser==)' requirements-infra.txt)
	$(INFRA_VENV)/bin/python -m pip install --quiet --no-deps $$(grep -E '^pycep-parser==' requirements-infra.txt)
	@rm -f $(INFRA_VENV)/.installed-*; touch $(INFRA_STAMP)

## The DSTU2 validator of the conversion tests (fhirclient 1.0.6's strict DSTU2 models) in its own venv:
## newer fhirclient releases share the package name and drop DSTU2.
DSTU2_VENV  ?= .venv-dstu2
DSTU2_STAMP := $(DSTU2_VENV)/.installed-$(shell { $(PYTHON) -V; cat requirements-dstu2.txt; } 2>&1 | cksum | cut -d' ' -f1)

dstu2-validator: $(DSTU2_STAMP)

$(DSTU2_STAMP): requirements-dstu2.txt
	@test "$$($(DSTU2_VENV)/bin/python -V 2>&1)" = "$$($(PYTHON) -V 2>&1)" \
		|| { rm -rf $(DSTU2_VENV) && $(PYTHON) -m venv $(DSTU2_VENV); }
	$(DSTU2_VENV)/bin/python -m pip install --quiet -r requirements-dstu2.txt
	@rm -f $(DSTU2_VENV)/.installed-*; touch $(DSTU2_STAMP)

## Run the gateway locally on http://localhost:7071 with everything it needs (Ctrl-C stops it all).
run: install
	$(PY) -m devtools.run

## Stop what `make run` started, from another shell.
stop:
	@$(PY) -m devtools.run --stop

## Static checks, first in `make test`: ruff on the whole repository (with a complexity limit of 12 on
## gateway/) and mypy, strict, on gateway/ (both configured in pyproject.toml).
check: install
	$(PY) -m ruff check .
	$(PY) -m mypy

## The static checks, then the whole suite: unit, integration (Azurite + Key Vault emulator) and end-to-end (local host).
test: install infra-tools dstu2-validator check
	$(PY) -m pytest

## Unit tests only (no services).
test-fast: install dstu2-validator
	$(PY) -m pytest tests/unit

## Every benchmark in bench/, printing figures (minutes; the machine should be quiet).
bench: install
	$(PY) -m bench

## The load run alone (50 concurrent clients, 10,000+ requests, memory with 10,000 routes).
bench-load: install
	$(PY) -m bench load

lint: check

clean:
	rm -rf .local .pytest_cache .ruff_cache .mypy_cache .hypothesis

## Mutation testing of the security-critical modules (minutes): a table per module and every surviving mutant.
## MODULES=paths limits it to matching targets (devtools/mutation/targets.toml).
mutation: install
	$(PY) -m devtools.mutation $(MODULES)
