# make install | lint | typecheck | test | bench | run | screenshot
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

BENCHMARKS ?= benchmarks/wakeup.py benchmarks/click.py benchmarks/subscribe.py benchmarks/redis_cpu.py benchmarks/relay.py benchmarks/listing.py benchmarks/quorum.py

.PHONY: install lint typecheck test bench run check screenshot

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo "installing hitl-slack and its development tools into $(VENV) (the first time: about a minute)"
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP)
	PYTHON=$(PY) scripts/with-redis $(PY) -m pytest

bench: $(STAMP)
	PYTHON=$(PY) scripts/with-redis sh -c "set -e; for b in $(BENCHMARKS); do echo == \$$b; $(PY) \$$b; done"

# Slack tokens configured (environment or .env): serve the workspace; none: the local playground.
run: $(STAMP)
	$(VENV)/bin/hitl-slack up

# Refresh the README's pictures of the playground (taken by the browser test, in a real Chromium;
# Debian's fonts-noto-color-emoji draws the risk emoji).
screenshot: $(STAMP)
	PYTHON=$(PY) HITL_REQUIRE_BROWSER=1 HITL_SCREENSHOT_DIR=$(CURDIR)/docs scripts/with-redis \
	  $(PY) -m pytest -n 0 -q tests/test_playground_browser.py -k "reject or wire"

check: lint typecheck test
