# Two commands for a fresh machine with Python 3.11 and make:
#   make run    start the example server (chess games kept in ./games.db, nothing else to install)
#   make test   install what the tests need and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
ARCHIVE ?= sqlite:///games.db

.PHONY: run test lint install install-dev system-deps bench autobahn clean

$(VENV)/.installed: pyproject.toml ws/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[examples]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[dev,examples,redis,postgres,bench]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(PY) -m examples.server --host $(HOST) --port $(PORT) --archive $(ARCHIVE)

system-deps:
	@sh scripts/system-deps.sh

test: $(VENV)/.installed-dev system-deps lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check ws rooms
	$(PY) -m mypy

bench: $(VENV)/.installed-dev
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.colyseus $(COLYSEUS_ARGS)

autobahn: $(VENV)/.installed-dev
	$(PY) -m bench.autobahn

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
