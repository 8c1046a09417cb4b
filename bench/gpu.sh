#!/usr/bin/env bash
# GPU benchmark at production widths with random weights (CLIP ViT-L/14-336, Whisper-large-v3 encoder,
# Qwen2.5-3B config) in bf16: Stage 1 steps/s, Stage 2 step time, generation tokens/s, peak GPU memory.
# Writes bench/results/gpu.json; must end within 8 minutes (model construction included).
#
#   bash bench/gpu.sh            # on a machine with a GPU
#   bash bench/gpu.sh --smoke    # tiny configs on the CPU: checks the code in ~1 minute, writes a temp file
#
# Extra arguments go to bench/bench_gpu.py (`--help` lists them). Run from anywhere; uses .venv/bin/python
# when the repository has one, else python3 (edgeglass is put on PYTHONPATH in case it is not installed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -c 'import torch, transformers, peft' 2>/dev/null || { echo "gpu.sh: $PY lacks torch, transformers or peft (pip install -e .)"; exit 1; }
exec timeout --signal=INT --kill-after=20 470 "$PY" bench/bench_gpu.py "$@"
