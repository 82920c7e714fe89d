#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the locked dependencies and the project.
# Python 3.10 is looked for in this order: $CHARWORD_PYTHON, python3.10 on PATH, pyenv.
set -euo pipefail
cd "$(dirname "$0")/.."

is_py310() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }

find_python310() {
  if [ -n "${CHARWORD_PYTHON:-}" ]; then
    is_py310 "$CHARWORD_PYTHON" && { echo "$CHARWORD_PYTHON"; return; }
    echo "CHARWORD_PYTHON=$CHARWORD_PYTHON is not a Python 3.10 interpreter." >&2; return 1
  fi
  local candidate
  candidate=$(command -v python3.10 || true)
  is_py310 "$candidate" && { echo "$candidate"; return; }
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/3.10*/bin/python3.10; do
      is_py310 "$candidate" && { echo "$candidate"; return; }
    done
  fi
  cat >&2 <<MSG
No Python 3.10 found. charword needs Python 3.10 (TFX 1.16 supports Python < 3.11).
Install one (e.g. 'pyenv install 3.10') or point CHARWORD_PYTHON at a python3.10 binary.
MSG
  return 1
}

if [ ! -x .venv/bin/python ] || ! is_py310 .venv/bin/python; then
  python=$(find_python310)
  echo "Creating .venv with $python"
  rm -rf .venv
  "$python" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
fi
echo "Installing locked dependencies (requirements.lock) with uv"
# Bytecode compiled at install time: where PYTHONDONTWRITEBYTECODE is set, Python would
# otherwise recompile TensorFlow/TFX from source in every process (imports 2x slower).
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -r requirements.lock
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
touch .venv/.charword-installed
