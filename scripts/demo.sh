#!/usr/bin/env bash
# Set up (if needed) and run the main job, `edgeglass demo`, on the built-in offline default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
exec .venv/bin/edgeglass demo "$@"
