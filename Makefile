# vitsim: the two README commands are `make demo` and `make test`.
# Both create or refresh the virtual environment $(VENV) and install the project into it.
# CI points VENV at a cached environment outside the clone (see .ci/run).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The stamp names the pyproject hash and the checkout path: a change to either reinstalls.
STAMP := $(VENV)/.vitsim-$(shell cat pyproject.toml | sha256sum | cut -c1-12)-$(shell echo '$(CURDIR)' | sha256sum | cut -c1-8)
PYTEST_ARGS ?= -n auto --durations=25

SCALESIM_VENV ?= .venv-scalesim

.PHONY: install demo test lint bench bench-all clean

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

# Every figure in README. SCALE-Sim needs numpy<2.4, so it gets a venv of its own.
$(SCALESIM_VENV)/.stamp:
	$(PYTHON) -m venv $(SCALESIM_VENV)
	$(SCALESIM_VENV)/bin/python -m pip install --quiet 'scalesim==3.0.0' 'numpy<2.4'
	touch $@

bench-all: $(STAMP) $(SCALESIM_VENV)/.stamp
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/hw_units.py
	$(PY) benchmarks/analytic_speed.py --scalesim-python $(SCALESIM_VENV)/bin/python \
		--plot docs/whatif.png
	$(PY) benchmarks/accuracy_gsb.py
	$(PY) benchmarks/accuracy_lowrank.py --seeds 0 1 2 --targets 0.3 0.45 0.6 0.75
	$(PY) benchmarks/accuracy_qvit.py --seeds 0 1 2 --float-epochs 40 --epochs 30 --threads 1

clean:
	rm -rf runs sim_build .pytest_cache .hypothesis $(SCALESIM_VENV)
