# rasa-chattigo: `make run` (set up, then chat with the bot over the sandbox) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
UV := .tools/bin/uv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml setup.cfg | cksum | cut -d' ' -f1)
MODEL := bot_project/models/current.tar.gz
BOT_SOURCES := $(wildcard bot_project/*.yml bot_project/data/*.yml)
SLOW_MODEL := bot_project/slow/models/slow.tar.gz
SLOW_SOURCES := $(wildcard bot_project/slow/*.yml bot_project/slow/data/*.yml)
PYTEST_ARGS ?=
DEMO_ARGS ?=

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup run shell test browser bench lint model lock clean

help:
	@echo "make run    set everything up, then chat with the bot as a WhatsApp user (sandbox)"
	@echo "make test   set everything up, then run the test suite"
	@echo "make shell  talk to the bot with rasa shell (no WhatsApp, no sandbox)"
	@echo "make bench  run the benchmarks (writes bench/results.md and bench/results.json)"
	@echo "make lint   ruff and mypy"
	@echo "make lock   re-resolve requirements.lock after changing dependencies"

$(UV):
	@python3 -m venv .tools
	@.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): $(UV) requirements.lock pyproject.toml setup.cfg
	@python=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] > (3, 10))'; then \
	  rm -rf $(VENV); $(UV) venv --quiet --python "$$python" $(VENV); fi
	@$(UV) pip sync --quiet --python $(BIN)/python requirements.lock
	@$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@
	@echo "Environment ready: $(VENV) ($$($(BIN)/python --version))"

setup: $(STAMP)

# Trains only when the model is missing or older than the bot's files.
$(MODEL): $(STAMP) $(BOT_SOURCES)
	cd bot_project && PYTHONWARNINGS=ignore ../$(BIN)/rasa train --fixed-model-name current --out models --quiet

$(SLOW_MODEL): $(STAMP) $(SLOW_SOURCES)
	cd bot_project/slow && PYTHONWARNINGS=ignore ../../$(BIN)/rasa train --fixed-model-name slow --out models --quiet

model: $(MODEL) $(SLOW_MODEL)

run: $(MODEL)
	@$(BIN)/rasa-chattigo demo --project bot_project --model $(MODEL) $(DEMO_ARGS)

# rasa shell reads credentials.yml, whose ${CHATTIGO_*} must be set though the shell ignores them.
shell: $(MODEL)
	cd bot_project && CHATTIGO_BASE_URL=$${CHATTIGO_BASE_URL:-http://127.0.0.1:8090} \
	  CHATTIGO_DID=$${CHATTIGO_DID:-5492644710400} CHATTIGO_USERNAME=$${CHATTIGO_USERNAME:-unused} \
	  CHATTIGO_PASSWORD=$${CHATTIGO_PASSWORD:-unused} ../$(BIN)/rasa shell -m models/current.tar.gz

# The web chat's browser tests need Debian's chromium and chromium-driver: installed here when
# running as root (CI) and missing; elsewhere nothing happens and those tests skip, saying why.
browser:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then \
	  echo "Installing chromium and chromium-driver for the browser tests ..."; \
	  { apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
	    || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; } \
	  || echo "Could not install chromium: the browser tests will be skipped"; fi

# The whole run's output and logs (pytest's DEBUG log file, the servers' logs) are then searched
# for every password, token and key the tests use: none may appear.
test: browser $(MODEL) $(SLOW_MODEL)
	@rm -rf run/test-logs run/pytest.log; mkdir -p run/test-logs
	set -o pipefail; $(BIN)/python -m pytest $(PYTEST_ARGS) 2>&1 | tee run/test-output.log
	@$(BIN)/python scripts/check_secrets.py run/test-output.log run/pytest.log run/test-logs

bench: $(MODEL) $(SLOW_MODEL)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check rasa_chattigo tests bench
	$(BIN)/mypy

lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.10 -o requirements.lock

clean:
	rm -rf $(VENV) .tools bot_project/models run .pytest_cache
