# gradsub: install, test, build the book, run experiments.
# A fresh machine needs only python3.11: `make test` creates .venv and installs everything.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MUJOCO_GL ?= disable
# One thread per process: jobs run side by side, and the solver's small dense calls (eigh, QR) slow
# down about 100x when OpenBLAS threads compete on a busy two-core machine.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: install test test-all book bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first: a bare `torch` requirement would pull a multi-GB CUDA build. The `bench` extra (the
# eigensolver benchmark's peer libraries, a few MB with torchvision 0.28 for this torch) is installed
# with the rest, so that `make test` runs their tests (tests/test_peers.py); a plain
# `pip install -e ".[test]"` skips those tests.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[book,test,dask,bench]"
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/pytest -m "not slow" -q

test-all: install
	$(BIN)/pytest -q

book: install
	$(BIN)/jupyter-book build book

bench: install
	$(BIN)/python benchmarks/eigensolver.py

clean:
	rm -rf _build
