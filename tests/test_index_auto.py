"""The short version of bench/bench_index_auto.py: below the crossover the default index is exact; above it, an HNSW
shortlist on the prefix whose re-rank keeps recall@10 at 0.99 or more; the peer comparison runs."""
import json, subprocess, sys
from pathlib import Path

def test_bench_quick(tmp_path):
    bench = Path(__file__).parents[1] / "bench" / "bench_index_auto.py"
    out = tmp_path / "index_auto.json"
    r = subprocess.run([sys.executable, str(bench), "--sizes", "5000", "40000", "--peer_at", "40000", "--singles", "20",
                        "--repeats", "1", "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=bench.parents[1])
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    small, big = res["defaults"]
    assert (small["config"]["kind"], small["config"]["shortlist_dim"], small["recall_at_10"]) == ("flat", 512, 1.0)
    assert big["config"]["kind"] == "hnsw" and big["recall_at_10"] >= 0.99
    assert res["peer"]["n"] == 40000 and res["peer"]["sweep"] and res["peer"]["peer_mib"] > 0
