#!/usr/bin/env bash
# Snakemake runs this once, inside the freshly created env, from the workflow's working directory
# (the project root): install the drct package itself, without touching the env's pinned dependencies.
set -euo pipefail
python -m pip install --no-deps -e .
