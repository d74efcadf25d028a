#!/usr/bin/env bash
# Runs the CLV fit bench. lifetimes (the baseline) is installed only into bench/.venv-clv, never
# into the project venv; the bench imports our models straight from the repo.
#   bench/clv_bench.sh [--customers N] [--seed S] [--lifetimes-maxiter K]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/.venv-clv
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3.11}" -m venv "$venv"
fi
if [ ! -f "$venv/.installed" ] || [ bench/requirements-clv.txt -nt "$venv/.installed" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements-clv.txt
    touch "$venv/.installed"
fi
exec "$venv/bin/python" bench/clv_bench.py "$@"
