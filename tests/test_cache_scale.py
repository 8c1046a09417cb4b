"""The short version of bench/bench_cache_scale.py: synthetic caches in the cache's own format, one epoch of training from
mapped shards (and preloaded), each in its own process."""
import subprocess, sys
from pathlib import Path

def test_bench_quick(tmp_path):
    bench = Path(__file__).parents[1] / "bench" / "bench_cache_scale.py"
    r = subprocess.run([sys.executable, str(bench), "--items", "3000", "--quick", "--root", str(tmp_path / "caches")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [l.split() for l in r.stdout.splitlines() if l.startswith(("pooled", "sequences"))]
    assert [(x[0], x[1]) for x in rows] == [("pooled", "mapped"), ("pooled", "preloaded"), ("sequences", "mapped")]
    assert not (tmp_path / "caches").exists()   # the synthetic caches are removed unless --keep
