"""The short version of bench/stage1_layers.py: summaries of several backbone layers of the offline encoders against
the last one, for the linear probe and the default heads, on the demo's first rows."""
import json, os, subprocess, sys
from pathlib import Path

def test_layers_bench_quick(tmp_path):
    bench = Path(__file__).parents[1] / "bench" / "stage1_layers.py"
    out = tmp_path / "layers.json"
    r = subprocess.run([sys.executable, str(bench), "--quick", "--threads", "1", "--out", str(out)], capture_output=True, text=True,
                       timeout=900, cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    d = json.loads(out.read_text())["datasets"]["demo"]
    assert (d["n_train"], d["n_test"]) == (96, 48)
    # the last summary of each modality is what the default head reads; the earlier ones come first
    assert d["layers"] == {"vision": [320, 1280], "text": [384, 384, 384], "audio": [384, 384, 384]}, d["layers"]
    assert {x["variant"] for x in d["runs"]} == {"linear probe", "linear probe, several layers", "default heads", "default heads, several layers"}
    for x in d["runs"]:
        assert set(x["retrieval"]) == {"image->text", "text->image", "audio->text", "text->audio", "image->audio", "audio->image"}
        assert all(0 <= m["R@1"] <= m["R@10"] <= 1 for row in x["retrieval"].values() for m in row.values())
    bad = subprocess.run([sys.executable, str(bench), "--datasets", "nosuchset", "--out", str(tmp_path / "x.json")], capture_output=True,
                         text=True, timeout=300, cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert bad.returncode != 0 and "--datasets:" in bad.stderr and "nosuchset" in bad.stderr, bad.stderr[-2000:]
    bad = subprocess.run([sys.executable, str(bench), "--quick", "--layers", "all"], capture_output=True, text=True, timeout=300,
                         cwd=bench.parents[1], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert bad.returncode != 0 and "--layers: 'all'" in bad.stderr, bad.stderr[-2000:]
