"""The short version of bench/stage2_trm_refine.py: TRM refinement in QwenVLM on and off, over two seeds, on tiny random
models; the refiner adds parameters only where it is on."""
import os, subprocess, sys
from pathlib import Path

def test_trm_refine_bench_quick(tmp_path):
    bench = Path(__file__).parents[1] / "bench" / "stage2_trm_refine.py"
    r = subprocess.run([sys.executable, str(bench), "--quick", "--seeds", "0,1", "--settings", "off,2-2", "--work", str(tmp_path / "work")],
                       capture_output=True, text=True, timeout=900, cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [l for l in r.stdout.splitlines() if "exact match" in l]
    assert [l.split()[2].rstrip(":") for l in lines] == ["off", "T2-n2", "off", "T2-n2"], r.stdout
    bad = subprocess.run([sys.executable, str(bench), "--quick", "--settings", "off,2x2"], capture_output=True, text=True, timeout=300,
                         cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert bad.returncode != 0 and "--settings: '2x2'" in bad.stderr, bad.stderr[-2000:]
