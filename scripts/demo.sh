#!/usr/bin/env bash
# The README's first command: run the toolkit's main job on embedded defaults — no account, no servers needed.
# Creates .venv on first use (Python >= 3.11), installs the toolkit with all extras, then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.vultr-toolkit-install-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q -e '.[all]'
  touch "$stamp"
fi
exec .venv/bin/vultr-toolkit demo "$@"
