#!/usr/bin/env bash
# A terminal transcript of the whole chain on the demo data, through the `edgeglass` command only:
# align (Stage 1 with a Perceiver vision head), vlm (Stage 2 VQA), ask, vlm --task caption, caption, search over a
# Stage 2 run, and the errors a user meets (a Stage 1 run given to ask, align over an existing run).
# Writes bench/results/cli_transcript.txt (about 15 minutes on 2 cores: two short SmolLM2 trainings,
# too short to answer well; notebook 17d has the full-length figures).
#
#   bash bench/cli_transcript.sh            # from the repository root, with the .venv set up
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 TQDM_DISABLE=1 PATH="$PWD/.venv/bin:$PATH"
out=bench/results/cli_transcript.txt
W=$(mktemp -d /tmp/edgeglass-transcript-XXXX)
DATA=$(python -c "from edgeglass.data import build_demo_data; print(build_demo_data(n_train=600, n_test=200))")
IMG="$DATA/images/test/7.png"
cat > "$W/vqa.yaml" <<'EOF'
train: {epochs: 100, batch_size: 16, lr: 0.003, weight_decay: 0.0, drop_last: false, max_steps: 60, warmup_steps: 10, checkpoint_every: 60, log_every: 10}
proj_warmup_steps: 40
describe_first: true
max_eval_items: 100
bf16: true
EOF
cat > "$W/caption.yaml" <<'EOF'
train: {epochs: 100, batch_size: 16, lr: 0.003, weight_decay: 0.0, drop_last: false, max_steps: 40, warmup_steps: 10, checkpoint_every: 40, log_every: 10}
vlm: {decoder: {model: smollm2-135m-instruct, lora: true, lora_r: 8}, vision_dim: 256, system_prompt: null, max_new_tokens: 6}
max_eval_items: 100
bf16: true
EOF
SHORTEN="s#$W#RUNS#g; s#$DATA#DEMO#g"
source bench/transcript_step.sh   # step CMD ...: the command, its output, its exit status
{
  echo "# edgeglass CLI transcript ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; DEMO = the demo data folder, RUNS = a scratch folder)"; echo
  step edgeglass align --data "$DATA" --out "$W/align" --adapter perceiver
  step edgeglass vlm --data "$DATA" --align "$W/align" --out "$W/vqa" --config "$W/vqa.yaml"
  step edgeglass ask "$IMG" "what color is the shape?" --run "$W/vqa"
  step edgeglass ask "$IMG" "is there a circle in the image?" --run "$W/vqa"
  step edgeglass vlm --task caption --data "$DATA" --align "$W/align" --out "$W/cap" --config "$W/caption.yaml"
  step edgeglass caption "$IMG" --run "$W/cap"
  step edgeglass search "a small green circle" --run "$W/vqa" --data "$DATA" --k 3
  step edgeglass ask "$IMG" "what shape is it?" --run "$W/align"
  step edgeglass caption "$IMG" --run "$W/vqa"
  step edgeglass align --data "$DATA" --out "$W/align" --adapter perceiver
} | tee "$out"
rm -rf "$W"
echo "wrote $out"
