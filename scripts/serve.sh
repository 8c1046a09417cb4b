#!/usr/bin/env bash
# Set up (if needed), train the demo run once (runs/demo, as `edgeglass demo` does), then serve it:
# the web UI at http://127.0.0.1:7860/ and the JSON API under /api. Extra arguments go to `edgeglass serve`
# (e.g. --port 8000, --host 0.0.0.0 to serve other machines). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
[ -f runs/demo/model/config.json ] || .venv/bin/edgeglass demo --out runs/demo
port=7860; args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = "--port" ] && port=${args[$((i + 1))]}; done
# open a browser once the server answers, where this machine has one
( for _ in $(seq 120); do
    if .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/api/health', timeout=1)" 2>/dev/null; then
      .venv/bin/python -m webbrowser -t "http://127.0.0.1:$port/" >/dev/null 2>&1 || true; break
    fi; sleep 1
  done ) &
exec .venv/bin/edgeglass serve --run runs/demo "$@"
