# rasa-chattigo: `make run` (set up, then chat with the bot over the sandbox) and `make test`.
# Two flavours: Rasa Open Source 3.6 on Python 3.10 (.venv, the default) and Rasa Pro 3.21 on
# Python 3.11 and 3.13 (.venv-pro311, .venv-pro313); `make test` tests all three.
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
RASA ?= oss
DEMO_ARGS ?=

# Rasa Pro: one environment and one lock per Python (their pins differ, e.g. scipy for 3.13).
# With RASA_LICENSE set, the 3.11 environment also gets rasa-pro[nlu] (TensorFlow), which the
# demo bot's DIETClassifier and TEDPolicy need to train; Rasa Pro has none on Python 3.13.
PRO_PYTHONS := 311 313
PYTHON_311 := 3.11.7
PYTHON_313 := 3.13.0
PRO_EXTRAS := --extra pro --extra dev --extra sandbox --extra redis --extra postgres
PRO_MODEL := bot_project/models/pro/current.tar.gz

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
# Offline, LiteLLM (imported by Rasa Pro) otherwise spends ~7 s fetching a price list.
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: help setup setup-pro run shell test test-rasa test-pro browser bench lint model lock \
	clean require-license

help:
	@echo "make run    set everything up, then chat with the bot as a WhatsApp user (sandbox)"
	@echo "make run RASA=pro   the same on Rasa Pro 3.21 (needs a license key in RASA_LICENSE)"
	@echo "make test   set everything up, then run the test suite on Rasa 3.6 and on Rasa Pro"
	@echo "make test-rasa, test-pro, test-pro311, test-pro313   one flavour or Python only"
	@echo "make shell  talk to the bot with rasa shell (no WhatsApp, no sandbox)"
	@echo "make bench  run the benchmarks (writes bench/results.md and bench/results.json)"
	@echo "make lint   ruff and mypy"
	@echo "make lock   re-resolve the four requirements*.lock after changing dependencies"

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

# $(call pro_env,311): the Rasa Pro environment .venv-pro311, its stamp and its test run.
define pro_env
PRO_LOCK_$(1) := requirements-pro$(1)$$(if $$(and $$(RASA_LICENSE),$$(filter 311,$(1))),-nlu).lock
PRO_STAMP_$(1) := .venv-pro$(1)/.installed-$$(shell cat $$(PRO_LOCK_$(1)) pyproject.toml setup.cfg | cksum | cut -d' ' -f1)

$$(PRO_STAMP_$(1)): $(UV) $$(PRO_LOCK_$(1)) pyproject.toml setup.cfg
	@python=$$$$(scripts/find-python $(PYTHON_$(1))) || exit 1; \
	if [ ! -x .venv-pro$(1)/bin/python ] || ! .venv-pro$(1)/bin/python -c \
	    'import sys; sys.exit(sys.version_info[:2] != (3, $(patsubst 3%,%,$(1))))'; then \
	  rm -rf .venv-pro$(1); $(UV) venv --quiet --python "$$$$python" .venv-pro$(1); fi
	@$(UV) pip sync --quiet --python .venv-pro$(1)/bin/python $$(PRO_LOCK_$(1))
	@$(UV) pip install --quiet --python .venv-pro$(1)/bin/python --no-deps -e .
	@rm -f .venv-pro$(1)/.installed-*; touch $$@
	@echo "Environment ready: .venv-pro$(1) ($$$$(.venv-pro$(1)/bin/python --version), Rasa Pro)"

test-pro$(1): $$(PRO_STAMP_$(1))
	$$(call suite,.venv-pro$(1),-pro$(1))
endef

# $(call suite,VENV,SUFFIX): the whole suite in VENV, then its output and logs searched for
# every password, token and key the tests use (and RASA_LICENSE): none may appear.
define suite
@rm -rf run/test-logs run/pytest.log; mkdir -p run/test-logs
set -o pipefail; $(1)/bin/python -m pytest $(PYTEST_ARGS) 2>&1 | tee run/test-output$(2).log
@$(1)/bin/python scripts/check_secrets.py run/test-output$(2).log run/pytest.log run/test-logs
endef

$(foreach v,$(PRO_PYTHONS),$(eval $(call pro_env,$(v))))

setup-pro: $(foreach v,$(PRO_PYTHONS),$(PRO_STAMP_$(v)))

# Trains only when the model is missing or older than the bot's files.
$(MODEL): $(STAMP) $(BOT_SOURCES)
	cd bot_project && PYTHONWARNINGS=ignore ../$(BIN)/rasa train --fixed-model-name current --out models --quiet

$(SLOW_MODEL): $(STAMP) $(SLOW_SOURCES)
	cd bot_project/slow && PYTHONWARNINGS=ignore ../../$(BIN)/rasa train --fixed-model-name slow --out models --quiet

model: $(MODEL) $(SLOW_MODEL)

ifeq ($(RASA),pro)
run: require-license
	@$(MAKE) --no-print-directory $(PRO_MODEL)
	@.venv-pro311/bin/rasa-chattigo demo --project bot_project --model $(PRO_MODEL) $(DEMO_ARGS)
else
run: $(MODEL)
	@$(BIN)/rasa-chattigo demo --project bot_project --model $(MODEL) $(DEMO_ARGS)
endif

# Rasa Pro's CLI (train, run, shell, data validate) refuses to start without a license key.
require-license:
	@if [ -z "$${RASA_LICENSE:-}" ]; then \
	  echo "make run RASA=pro needs a Rasa Pro license key: Rasa Pro's 'rasa train' and" >&2; \
	  echo "'rasa run' refuse to start without one. Get a free Developer Edition key from Rasa," >&2; \
	  echo "then: RASA_LICENSE=<your key> make run RASA=pro   (or plain 'make run': Rasa 3.6)" >&2; \
	  exit 1; fi

# Only with a license: Rasa Pro cannot load the model Rasa 3.6 trains.
$(PRO_MODEL): $(PRO_STAMP_311) $(BOT_SOURCES) | require-license
	cd bot_project && PYTHONWARNINGS=ignore ../.venv-pro311/bin/rasa train \
	  --fixed-model-name current --out models/pro --quiet

# rasa shell reads credentials.yml, whose ${CHATTIGO_*} must be set though the shell ignores them.
shell: $(MODEL)
	cd bot_project && CHATTIGO_BASE_URL=$${CHATTIGO_BASE_URL:-http://127.0.0.1:8090} \
	  CHATTIGO_DID=$${CHATTIGO_DID:-5492644710400} CHATTIGO_USERNAME=$${CHATTIGO_USERNAME:-unused} \
	  CHATTIGO_PASSWORD=$${CHATTIGO_PASSWORD:-unused} \
	  CHATTIGO_WEBHOOK_TOKEN=$${CHATTIGO_WEBHOOK_TOKEN:-unused-by-rasa-shell} ../$(BIN)/rasa shell -m models/current.tar.gz

# The web chat's browser tests need Debian's chromium and chromium-driver: installed here when
# running as root (CI) and missing; elsewhere nothing happens and those tests skip, saying why.
browser:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then \
	  echo "Installing chromium and chromium-driver for the browser tests ..."; \
	  { apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
	    || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; } \
	  || echo "Could not install chromium: the browser tests will be skipped"; fi

# Rasa 3.6 first (it trains the models its end-to-end tests use), then Rasa Pro on each Python.
# Without RASA_LICENSE, the Pro runs skip the tests that need Rasa Pro's CLI and train nothing.
test: browser test-rasa test-pro

test-rasa: $(MODEL) $(SLOW_MODEL)
	$(call suite,$(VENV),)

test-pro: $(foreach v,$(PRO_PYTHONS),test-pro$(v))

bench: $(MODEL) $(SLOW_MODEL)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check rasa_chattigo tests bench
	$(BIN)/mypy

lock: $(UV)
	$(UV) pip compile pyproject.toml --extra rasa --extra dev --extra sandbox --extra redis \
	  --extra postgres --python-version 3.10 -c constraints-rasa36.txt -o requirements.lock
	$(UV) pip compile pyproject.toml $(PRO_EXTRAS) --python-version 3.11 -o requirements-pro311.lock
	$(UV) pip compile pyproject.toml $(PRO_EXTRAS) --extra nlu --python-version 3.11 \
	  -o requirements-pro311-nlu.lock
	$(UV) pip compile pyproject.toml $(PRO_EXTRAS) --python-version 3.13 -o requirements-pro313.lock

clean:
	rm -rf $(VENV) .venv-pro311 .venv-pro313 .tools bot_project/models run .pytest_cache
