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
SHORTEN="s#$W#RUNS#g; s#$REAL#REAL#g"
source bench/transcript_step.sh   # step CMD ...: the command, its output, its exit status
{
  echo "# edgeglass Stage 1 on real data ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; REAL = the real datasets folder, RUNS = a scratch folder)"; echo
  for d in emoji icons; do
    step edgeglass align --data "$REAL/$d" --out "$W/$d"
    step edgeglass eval --run "$W/$d" --data "$REAL/$d" --split test
  done
} | tee "$out"
rm -rf "$W"
echo "wrote $out"
