#!/usr/bin/env bash
# Snakemake runs this once, inside the freshly created env: install the drct package itself (the
# workflow's own folder, wherever Snakemake runs), without touching the env's pinned dependencies.
set -euo pipefail
python -m pip install --no-deps -e "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
