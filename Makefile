# Two commands for a fresh machine with Python 3.11 and make:
#   make run    start the example server (chess games kept in ./games.db, nothing else to install)
#   make test   install what the tests need and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
ARCHIVE ?= sqlite:///games.db

.PHONY: run test lint mutation install install-dev system-deps bench autobahn clean

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

# Hand-written mutants (the Lua matcher and once-surviving one-line bugs), then
# mutmut over the modules in pyproject's [tool.mutmut]: each mutant must be killed
# or listed in tests/mutation-equivalents.md.  Long; not part of make test.
mutation: $(VENV)/.installed-dev system-deps
	PY=$(PY) bash scripts/mutants.sh; a=$$?; PY=$(PY) bash scripts/mutmut.sh; b=$$?; test $$a -eq 0 -a $$b -eq 0

bench: $(VENV)/.installed-dev
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.colyseus $(COLYSEUS_ARGS)

autobahn: $(VENV)/.installed-dev
	$(PY) -m bench.autobahn

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
