#!/usr/bin/env bash
# Create .venv and install tenantgate with its development extras; re-run pip only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    # pyenv shims exist for versions that are not selected: run the candidate to be sure, quietly.
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      python="$candidate"; break
    fi
  done
fi
[ -n "$python" ] || { echo "tenantgate: Python >= 3.11 is required" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "tenantgate: installing Python dependencies into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
