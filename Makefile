# The two set-up commands are `make run` and `make test` (README.md).
# Everything the tests need is installed here, so both work on a fresh machine.

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
APT_PACKAGES := awscli softhsm2 opensc curl wrk hyperfine
PYTEST_WORKERS ?= 2
# Measured: 88% (servers and workers under test included, via coverage patch=subprocess).
COVERAGE_FLOOR ?= 85

.PHONY: run test lint typecheck pytest fuzz statefuzz system-deps node-deps services bench clean

$(PY):
	python3 -m venv $(VENV)

# constraints.txt: the exact versions tested (its header says why).
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' -c constraints.txt
	touch $@

# The first run installs for a while (~10-20 s) before the server starts: say so, and what.
run:
	@$(MAKE) --no-print-directory -q $(STAMP) 2>/dev/null || { \
	  echo "make run: installing cks into $(VENV) first (pip install -e '.[test]' -c constraints.txt), with:"; \
	  python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	    print("  " + ", ".join(p["dependencies"] + p["optional-dependencies"]["test"]))'; \
	  echo "  (once; later runs start at once)"; }
	@$(MAKE) --no-print-directory -s $(STAMP)
	$(VENV)/bin/cks serve --host 127.0.0.1 --port 4599 $(CKS_ARGS)

# Debian packages the tests drive: the AWS CLI v2, SoftHSM2 and pkcs11-tool, curl, wrk.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The AWS SDK for JavaScript v3, for the JS client tests.
node-deps: tests/js/node_modules/.installed
tests/js/node_modules/.installed: tests/js/package.json
	cd tests/js && npm install --no-audit --no-fund --silent
	touch $@

# PostgreSQL is started before the session on this kind of machine; start it if it stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
	  (pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start && sleep 2) || \
	  echo "PostgreSQL is not running; its tests fail under CI=true and are skipped otherwise"

lint: $(STAMP)
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q \
	  --cov=kmscks --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

test: $(STAMP) system-deps node-deps services lint typecheck pytest

# The fuzz of tests/fuzz at length (make test runs it with CKS_FUZZ_EXAMPLES' default of 300 per
# store); prints the figures: requests and answers by status, per store.
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP) services
	CKS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest -n 0 -q -p no:cacheprovider tests/fuzz

# The key-state machine of tests/keys/test_key_state_machine.py at length (make test runs 10
# examples of up to 40 steps per store); prints its answers by operation and error code.
STATEFUZZ_EXAMPLES ?= 1000
STATEFUZZ_STEPS ?= 50
statefuzz: $(STAMP) services
	CKS_STATEFUZZ_EXAMPLES=$(STATEFUZZ_EXAMPLES) CKS_STATEFUZZ_STEPS=$(STATEFUZZ_STEPS) \
	  $(VENV)/bin/pytest -n 0 -q -p no:cacheprovider tests/keys/test_key_state_machine.py

bench: $(STAMP) system-deps
	$(PY) -m pip install -q -e '.[test,bench]' -c constraints.txt
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) tests/js/node_modules .pytest_cache .mypy_cache .ruff_cache
