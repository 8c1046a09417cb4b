"""`edgeglass align` across processes, as the README's multi-node section runs it: `torchrun` starts two CPU ranks on
the real offline models, they extract their shares of the features into a fresh cache, train with the SigLIP loss
(negatives passed round the ring of ranks) and write one run folder."""
import json, os, subprocess, sys
from pathlib import Path

from edgeglass.testing import digits_manifest

EXE = Path(sys.executable).parent / "edgeglass"

def test_align_on_two_processes(tmp_path):
    data = digits_manifest(tmp_path / "data")
    cfg = tmp_path / "run.yaml"
    cfg.write_text("train:\n  epochs: 2\n  batch_size: 4\n  checkpoint_every: 2\nmodel:\n  loss:\n    kind: siglip\n    temperature: 0.1\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EDGEGLASS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(EXE), "align",
                        "--data", str(data), "--out", str(tmp_path / "run"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / "model" / "model.safetensors").exists() and (run / "metrics.json").exists()
    assert json.loads((run / "config.json").read_text())["model"]["loss"]["kind"] == "siglip"
    states = sorted(run.glob("checkpoints/step-*/state.json"))
    assert states and json.loads(states[-1].read_text())["num_processes"] == 2
    records = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in records if x["kind"] == "train"]
    assert train and all("logit_bias" in x for x in train)
    assert any((tmp_path / "cache").rglob("*.safetensors")), "the ranks wrote no features into the cache"
