# streamdecide: make setup | make demo | make test
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PIPFLAGS := --disable-pip-version-check -q
APT_PACKAGES := r-cran-bayesm prometheus docker-compose
APT_STAMP := $(VENV)/.apt-packages

.PHONY: setup demo test test-unit test-integration test-drift test-crash schemas audit clean

setup: $(STAMP) $(APT_STAMP)
	$(BIN)/streamdecide train --if-missing

# Debian packages: the orangeJuice panel (conversion's price prior), promtool and
# docker-compose (the deploy/ validators). Installed only when missing.
$(APT_STAMP): | $(STAMP)
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends $(APT_PACKAGES) >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $(APT_PACKAGES) >/dev/null; }; }
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { echo "setup: could not install Debian packages: $(APT_PACKAGES)"; exit 1; }
	touch $(APT_STAMP)

$(STAMP): pyproject.toml requirements.lock constraints.txt
	@command -v $(PY) >/dev/null || { echo "setup: $(PY) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install $(PIPFLAGS) -c constraints.txt -r requirements.lock
	$(BIN)/pip install $(PIPFLAGS) --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

demo: setup
	$(BIN)/streamdecide demo $(DEMO_ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The end-to-end drift scenario alone (also in make test; about 6-10 min).
test-drift: setup
	$(BIN)/python -m pytest tests/integration/test_drift_recovery.py -s $(PYTEST_ARGS)

# Crash safety alone (also in make test): SIGTERM then three SIGKILLs of the worker during 20,000 events, about 2 min.
test-crash: setup
	$(BIN)/python -m pytest tests/integration/test_crash_safety.py -s $(PYTEST_ARGS)

test-unit: setup
	$(BIN)/python -m pytest tests/unit schemas streams agents triton_models $(PYTEST_ARGS)

# Known vulnerabilities in the locked dependencies (pip-audit in its own venv; needs PyPI's JSON
# API and api.osv.dev). --strict: a package it cannot check fails the audit instead of passing.
audit:
	@test -x .audit-venv/bin/pip-audit || { $(PY) -m venv .audit-venv && .audit-venv/bin/pip install $(PIPFLAGS) pip-audit; }
	.audit-venv/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r requirements.lock

schemas: $(STAMP)
	$(BIN)/python -m schemas.export

clean:
	rm -rf $(VENV) var
