#!/usr/bin/env bash
# The one test command (README): from a fresh clone on a fresh Debian/Ubuntu machine it
#   1. creates .venv (python3 -m venv) and installs -e '.[all,test]' — skipped while pyproject.toml is unchanged;
#   2. when root, installs missing server binaries (scripts/install_services.sh: PostgreSQL, redis-server,
#      valkey-server 8 from backports into .services/valkey) and prints the Valkey/Redis and PostgreSQL it uses;
#   3. runs ruff, mypy, pytest over tests/, every docstring example (pytest --doctest-modules vultr_toolkit) and,
#      when notebooks exist, pytest --nbval-lax notebooks/;
#   4. exits non-zero if any step failed ("no tests collected" counts as a failure).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/cache -x  # developer mode: setup, then only `pytest tests/cache -x` (no lint/notebooks)
#
# Env: PYTHON (interpreter for the venv, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
step() { printf '\n==> %s\n' "$*"; }

# ---- 1. Python environment ---------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp=$VENV/.vultr-toolkit-test-install-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  step "installing -e '.[all,test]' into $VENV"
  "$VENV/bin/python" -m pip install -q -e '.[all,test]'
  touch "$stamp"
fi

# ---- 2. Servers ----------------------------------------------------------------------------------------------------
step "server binaries"
bash scripts/install_services.sh
# Prints e.g. "valkey: <path> (Valkey server v=8.0.1 ...)" and "postgresql: <path> (pg_ctl (PostgreSQL) 15.x)";
# exits non-zero when one is missing: a missing server fails the run, it is never skipped.
"$VENV/bin/python" -m tests.plugins.servers

failed=()
run() {
  local name=$1
  shift
  step "$name: $*"
  local rc=0
  "$@" || rc=$?
  if [ "$rc" = 5 ] && [[ "$name" == pytest* ]]; then
    echo "pytest collected no tests: counted as a failure"
  fi
  [ "$rc" = 0 ] || failed+=("$name (exit $rc)")
}

# ---- 3. Checks -----------------------------------------------------------------------------------------------------
if [ $# -gt 0 ]; then
  run "pytest" "$VENV/bin/pytest" -p no:cacheprovider "$@"
else
  run "ruff" "$VENV/bin/ruff" check vultr_toolkit tests benchmarks scripts conftest.py
  run "mypy" "$VENV/bin/mypy"
  run "pytest" "$VENV/bin/pytest" -p no:cacheprovider --durations=15 tests/  # the slowest, to keep the suite fast
  # The docstrings are the manual: every example runs, against the session sandbox of ./conftest.py.
  run "pytest-doctests" "$VENV/bin/pytest" -p no:cacheprovider --doctest-modules vultr_toolkit
  if compgen -G "notebooks/*.ipynb" >/dev/null; then
    # The notebooks switch to a real account when VULTR_API_KEY is set: the test run must stay on the sandbox.
    run "pytest-notebooks" env -u VULTR_API_KEY -u VULTR_MANAGEMENT_API_KEY -u VULTR_INFERENCE_API_KEY \
      "$VENV/bin/pytest" -p no:cacheprovider --nbval-lax notebooks/
  fi
fi

# ---- 4. Verdict ----------------------------------------------------------------------------------------------------
echo
"$VENV/bin/python" -m tests.plugins.servers | sed 's/^/used /'
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "ALL PASSED"
