# Two commands set up a fresh clone and run it:
#   make demo   # install into .venv, then run the whole DAG on the embedded demo data
#   make test   # install into .venv, then run the test suite (includes one full demo DAG)
#   make report # make demo, then every table and figure in results/demo/report.html
#   make lock   # re-pin requirements/lock.txt and envs/*.yaml from pyproject.toml's ranges
# The install is the pinned, tested set of requirements/lock.txt (CPython 3.11, Linux x86_64; its
# torch is the CUDA 13.0 build, which needs an NVIDIA driver >= 580 for the GPU and runs on CPU anyway).
# Override what does not fit your machine, e.g.
#   make demo TORCH="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu"
#       (a torch pair of your own, e.g. CPU-only; everything else stays pinned)
#   make demo LOCK= PYTHON=python3.12   (no lock: pyproject.toml's ranges, for another Python or OS)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
LOCK ?= requirements/lock.txt
TORCH ?=
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
CORES ?= all
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: demo report test lint lock clean-demo

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
ifeq ($(strip $(LOCK)),)
	$(BIN)/python -m pip install --quiet $(or $(TORCH),torch torchvision)
	$(BIN)/python -m pip install --quiet -e '.[workflow,test]'
else
	$(BIN)/python scripts/lock.py --check-interpreter
ifeq ($(strip $(TORCH)),)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(LOCK)
else
	$(BIN)/python -m pip install --quiet $(TORCH)
	grep -v -E '^(torch|torchvision|triton|nvidia-|cuda-)' $(LOCK) > $(VENV)/lock-without-torch.txt
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(VENV)/lock-without-torch.txt
endif
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
endif
	touch $@

# pip resolves the ranges (with the tested torch pair of [tool.drct.lock]) for $(PYTHON); nothing is installed
lock:
	$(PYTHON) scripts/lock.py

demo: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)

# the whole demo DAG, then every table and figure gathered in one self-contained HTML file
report: demo
	$(BIN)/snakemake --report results/demo/report.html

# the whole suite on pytest-xdist workers (one per CPU; a file's tests share a worker); a developer's
# fast set: .venv/bin/python -m pytest -m "not slow" -n auto
PYTEST_WORKERS ?= auto
test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

clean-demo:
	rm -rf results/demo results/data/demo-* results/downloads/demo logs/demo .snakemake
