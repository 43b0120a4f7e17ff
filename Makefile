# vitsim: the two README commands are `make demo` and `make test`.
# Both create or refresh the virtual environment $(VENV) and install the project into it.
# CI points VENV at a cached environment outside the clone (see .ci/run).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The stamp names the pyproject hash and the checkout path: a change to either reinstalls.
STAMP := $(VENV)/.vitsim-$(shell cat pyproject.toml | sha256sum | cut -c1-12)-$(shell echo '$(CURDIR)' | sha256sum | cut -c1-8)
PYTEST_ARGS ?= -n auto

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.vitsim-*
	touch $@

demo: $(STAMP)
	$(VENV)/bin/vitsim demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/sim_speed.py

clean:
	rm -rf runs sim_build .pytest_cache .hypothesis
