#!/usr/bin/env bash
# A terminal transcript of Stage 1 on the two real datasets, through the `edgeglass` command only, with no config:
# `edgeglass align` (trains, then measures the test split beside the linear and MLP probes) and `edgeglass eval`
# (measures the saved run again, as a user would later). Needs the real sets (`python scripts/real_data.py`).
# Writes bench/results/stage1_cli_transcript.txt (about 10 minutes on 2 cores with the features cached).
#
#   bash bench/stage1_cli_transcript.sh      # from the repository root, with the .venv set up
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 TQDM_DISABLE=1 PATH="$PWD/.venv/bin:$PATH"
out=bench/results/stage1_cli_transcript.txt
W=$(mktemp -d /tmp/edgeglass-stage1-XXXX)
REAL="${EDGEGLASS_REAL_DATA:-$HOME/.cache/edgeglass/real_data}"
step() {   # print the command as typed (paths shortened), then its output and exit status
  echo "\$ $*" | sed "s#$W#RUNS#g; s#$REAL#REAL#g"
  local t0=$(date +%s)
  "$@" 2>&1 | grep -v -e 'Warning' -e 'warnings.warn' -e 'Loading weights' -e 'kernels-community' -e 'it/s\]' -e 's/it\]' -e 'step/s' -e 's/step' -e '^\s*$' | sed "s#$W#RUNS#g; s#$REAL#REAL#g"
  echo "[exit ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s]"; echo
}
{
  echo "# edgeglass Stage 1 on real data ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; REAL = the real datasets folder, RUNS = a scratch folder)"; echo
  for d in emoji icons; do
    step edgeglass align --data "$REAL/$d" --out "$W/$d"
    step edgeglass eval --run "$W/$d" --data "$REAL/$d" --split test
  done
} | tee "$out"
rm -rf "$W"
echo "wrote $out"
