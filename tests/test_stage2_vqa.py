"""The short version of bench/stage2_vqa.py: every variant (Perceiver latents, pooled grid, text only, TRM decoder)
trains through the library's own runs on tiny random models and reports exact match by question kind, with the
shuffled-image control for the runs that read the image."""
import json, os, subprocess, sys
from pathlib import Path

def test_vqa_bench_quick(tmp_path):
    bench = Path(__file__).parents[1] / "bench" / "stage2_vqa.py"
    r = subprocess.run([sys.executable, str(bench), "--quick", "--describe", "--variants", "perceiver,grid,text,trm", "--work", str(tmp_path / "work")],
                       capture_output=True, text=True, timeout=900, cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    lines = {l.split()[0]: l for l in r.stdout.splitlines() if "exact match" in l}
    assert set(lines) == {"perceiver", "grid", "text", "trm"}, r.stdout
    assert "shuffled image" in lines["perceiver"] and "shuffled image" in lines["grid"] and "shuffled image" not in lines["text"], r.stdout
    assert (tmp_path / "work" / "perceiver-s0" / "warmup" / "model").is_dir()       # the projection warm-up ran first
    assert not (tmp_path / "work" / "text-s0" / "warmup").exists()                  # no projection to warm without the image

def test_vqa_bench_quick_checks(tmp_path):
    "The recipe of the grounded runs: balanced answers, the description and the label checks before the answer."
    bench = Path(__file__).parents[1] / "bench" / "stage2_vqa.py"
    r = subprocess.run([sys.executable, str(bench), "--quick", "--describe", "--balance", "--check", "--variants", "perceiver", "--work", str(tmp_path / "work")],
                       capture_output=True, text=True, timeout=900, cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "work" / "perceiver-balanced-check-s0"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["describe_first"] and cfg["balance_answers"] and cfg["check_labels"], cfg
    assert all("reply" in json.loads(l) for l in (run / "predictions.jsonl").read_text().splitlines())   # the whole reply is kept
