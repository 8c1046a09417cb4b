#!/usr/bin/env bash
# Build the documentation site offline into _site/ from the notebooks in nbs/, without Quarto:
# nbdev's own notebook processing, then Sphinx + MyST-NB (docs/conf.py). Nothing is executed; pages show the
# outputs saved in the notebooks. Open _site/index.html, or serve it: python -m http.server -d _site 8000
# Arguments go to tools/build_docs.py: --out DIR (default _site), --strict (fail on any warning).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
exec .venv/bin/python tools/build_docs.py "$@"
