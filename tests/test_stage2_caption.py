"""The short version of bench/stage2_caption.py: both captioning runs (with and without the image) train through
`run_vlm(task='caption')` on tiny random models and report BLEU-4, CIDEr and grounding R@1 on the demo's test images."""
import os, subprocess, sys
from pathlib import Path

def test_caption_bench_quick(tmp_path):
    bench = Path(__file__).parents[1] / "bench" / "stage2_caption.py"
    r = subprocess.run([sys.executable, str(bench), "--quick", "--work", str(tmp_path / "work")], capture_output=True, text=True,
                       timeout=900, cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [l for l in r.stdout.splitlines() if "BLEU-4" in l]
    assert len(lines) == 2 and lines[0].strip().startswith("image prefix") and lines[1].strip().startswith("text only"), r.stdout
    assert all("grounding R@1" in l and "on 8 images" in l for l in lines), r.stdout
    assert (tmp_path / "work" / "image-prefix" / "metrics.json").is_file() and (tmp_path / "work" / "text-only" / "predictions.jsonl").is_file()
