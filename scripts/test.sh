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
# The Stage 2 results notebook (two SmolLM2 trainings) is the longest by far: it starts at once on one core, the other
# notebooks run one after another on the other core, and pytest follows them there while it finishes.
long='17d_stage2_easyvqa.ipynb'
nbdev_test --flags slow --timing --path "nbs/$long" & long_pid=$!
nbdev_test --flags slow --timing --n_workers 1 --skip_file_re "^([_.]|$long)"
log=$(mktemp)
pytest -q tests > "$log" 2>&1 & test_pid=$!
long_status=0; wait "$long_pid" || long_status=$?
test_status=0; wait "$test_pid" || test_status=$?
echo "== pytest =="
cat "$log"; rm -f "$log"
[ "$long_status" -eq 0 ] && [ "$test_status" -eq 0 ]
