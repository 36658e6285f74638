# Two commands set up a fresh clone and run it:
#   make demo   # install into .venv, then run the whole DAG on the embedded demo data
#   make test   # install into .venv, then run the test suite (includes one full demo DAG)
#   make report # make demo, then every table and figure in results/demo/report.html
# Override the interpreter or the torch pair if your machine needs others, e.g.
#   make demo PYTHON=python3.12 TORCH="torch torchvision"

PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH ?= torch==2.14.1 torchvision==0.29.1
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
CORES ?= all
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: demo report test lint clean-demo

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[workflow,test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)

# the whole demo DAG, then every table and figure gathered in one self-contained HTML file
report: demo
	$(BIN)/snakemake --report results/demo/report.html

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

clean-demo:
	rm -rf results/demo results/data/demo-* results/downloads/demo logs/demo .snakemake
