#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: every notebook with nbdev_test (slow cells included),
# then pytest on tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
# two notebooks run in parallel on two cores: one thread each avoids oversubscription
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
export PATH="$PWD/.venv/bin:$PATH"
echo "== nbdev_test (all notebooks, flags: slow) =="
nbdev_test --flags slow --timing
echo "== pytest =="
pytest -q tests
