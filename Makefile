# seqcourse: make book | make test | make lab | make assignments | make bench | make clean
#            make run-notebooks [SCALE=cpu|gpu] [SHIFT=n] [JOBS=n]
#
# Every target runs inside one Python environment: the active virtualenv when
# $VIRTUAL_ENV is set (or VENV=... is given, e.g. VENV=$CONDA_PREFIX), else
# ./.venv, created on first use. The package and its extras are installed once
# per version of pyproject.toml; a stamp file in the environment records it.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
DEPS_HASH := $(shell cksum < pyproject.toml | cut -d' ' -f1)
SETUP := $(VENV)/.installed-test-$(DEPS_HASH)

# The tests run on two workers; loadfile keeps every cell of a notebook on one
# worker (and one kernel). Student notebooks are generated and skipped (tests/conftest.py).
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=15
NBVAL_ARGS := --nbval-lax --nbval-current-env --nbval-cell-timeout=300

# make run-notebooks: every page through nbclient alone (no jupyter-book, no otter), with a
# table of pass/fail and seconds; empty values keep the defaults (scale from the device).
SCALE ?=
SHIFT ?=
JOBS ?= 2

.PHONY: help book test lab assignments bench clean run-notebooks grade check-book wheels

help:
	@echo "make book         execute every notebook and build the HTML book into _build/html"
	@echo "make test         ruff, unit tests, every notebook under nbval, assignment checks, book build,"
	@echo "                  every page in headless Chromium (installed with apt-get when missing)"
	@echo "make check-book   every page of _build/html in headless Chromium, offline"
	@echo "make lab          JupyterLab on book/"
	@echo "make assignments  student notebooks and autograder zips into _build/assignments/"
	@echo "make bench        run every bench/*.py"
	@echo "make run-notebooks [SCALE=cpu|gpu] [SHIFT=n] [JOBS=n]  execute every page with nbclient alone"
	@echo "make grade CHAPTER=04_lstm_gru SUBMISSIONS=dir [GRADE_JOBS=n] [TIMEOUT=s]  grade a class into dir/gradebook.csv"
	@echo "make wheels       the pages' libraries as Python 3.12 wheels in .whl/1, .whl/2 for a bare GPU machine"
	@echo "                  (then .ci/gpu_check.sh there: see its header)"
	@echo "make clean        remove _build and caches (keeps the venv and the committed student notebooks)"

# Install the package with the given extras: .installed-<extras>-<hash of pyproject.toml>.
$(VENV)/.installed-%-$(DEPS_HASH): pyproject.toml
	@[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[$*]'
	@rm -f $(VENV)/.installed-$*-*
	@touch $@

assignments: $(SETUP)
	$(PYTHON) .ci/assignments.py build

book: $(SETUP) assignments
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W -n --keep-going; rc=$$?; \
	echo "jupyter-book build: exit $$rc after $$(( $$(date +%s) - start )) s"; \
	$(PYTHON) .ci/exec_times.py || { [ $$rc -ne 0 ] || rc=1; echo "stall check failed"; }; \
	if [ $$rc -ne 0 ]; then \
	  for log in $$(find _build/html/reports -name '*.log' 2>/dev/null); do \
	    echo "=== $$log"; cat "$$log"; \
	  done; \
	  exit $$rc; \
	fi
	@echo "The book: _build/html/index.html"

test: $(SETUP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash .ci/install_chromium.sh
	$(BIN)/pytest tests book $(NBVAL_ARGS) $(PYTEST_ARGS)

check-book: $(SETUP)
	bash .ci/install_chromium.sh
	$(PYTHON) .ci/browser_check.py _build/html --report _build/browser-check.md

run-notebooks: $(SETUP)
	$(PYTHON) .ci/run_notebooks.py --jobs $(JOBS) $(if $(SCALE),--scale $(SCALE)) \
	  $(if $(SHIFT),--shift $(SHIFT))

lab: $(SETUP)
	$(BIN)/jupyter-lab --notebook-dir=book $(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(VENV)/.installed-bench-$(DEPS_HASH)
	@set -e; shopt -s nullglob; scripts=(bench/*.py); \
	[ $${#scripts[@]} -gt 0 ] || { echo "no bench/*.py yet"; exit 0; }; \
	for script in "$${scripts[@]}"; do echo "=== $$script"; $(PYTHON) "$$script"; done

wheels: $(SETUP)
	$(PYTHON) .ci/wheels.py

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -not -path './.venv/*' -prune -exec rm -rf {} +

# make grade: every SUBMISSIONS/*.ipynb graded with the chapter's autograder into
# SUBMISSIONS/gradebook.csv and SUBMISSIONS/feedback/ (GRADE_JOBS: workers, default one per
# core; TIMEOUT: seconds per question, default 60).
CHAPTER ?=
SUBMISSIONS ?=
TIMEOUT ?=

grade: $(SETUP)
	@[ -n "$(CHAPTER)" ] && [ -n "$(SUBMISSIONS)" ] || \
	  { echo "usage: make grade CHAPTER=<chapter> SUBMISSIONS=<folder of *.ipynb> [GRADE_JOBS=n] [TIMEOUT=s]"; exit 2; }
	$(PYTHON) .ci/grade.py $(CHAPTER) $(SUBMISSIONS) $(if $(GRADE_JOBS),--jobs $(GRADE_JOBS)) \
	  $(if $(TIMEOUT),--timeout $(TIMEOUT))
