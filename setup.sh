#!/usr/bin/env bash
# Create .venv/ in the repository root and install mots_ros with everything the tests need.
# Works on a fresh Debian/Ubuntu machine with Python 3.11 (installs python3-venv with apt when it is missing).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
if [ -z "$PY" ]; then
  echo "setup: no python3 found; install Python 3.11 (apt-get install python3.11)" >&2
  exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup: $PY is $("$PY" --version 2>&1); mots_ros needs Python >= 3.10" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      echo "setup: installing python${ver}-venv with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${ver}-venv"
      "$PY" -m venv .venv
    else
      echo "setup: '$PY -m venv' failed; install the venv module: sudo apt-get install python${ver}-venv" >&2
      exit 1
    fi
  fi
fi
stamp=.venv/.mots_ros-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
echo "setup: ready (.venv/bin/mots)"
