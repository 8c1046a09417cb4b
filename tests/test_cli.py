"""`edgeglass align`, `eval`, `vlm` and `ask` on a manifest folder the project has never seen (real offline models)."""
import json, os, shutil, subprocess, sys
from pathlib import Path

import pytest

from edgeglass.testing import digits_manifest

EXE = Path(sys.executable).parent / "edgeglass"

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return digits_manifest(tmp_path_factory.mktemp("digits") / "data")

def run(*args, **kw):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=900, env=env, **kw)

@pytest.fixture(scope="module")
def align_run(data, tmp_path_factory):
    """A Stage 1 run trained by `edgeglass align` on the digits."""
    tmp = tmp_path_factory.mktemp("align")
    cfg = tmp / "run.yaml"
    cfg.write_text("train:\n  epochs: 3\n  batch_size: 4\n  checkpoint_every: 2\n")
    r = run("align", "--data", str(data), "--out", str(tmp / "run"), "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp / "run"

def test_align_then_eval_on_unseen_data(data, align_run):
    for f in ("config.json", "metrics.jsonl", "model/model.safetensors", "model/config.json"):
        assert (align_run / f).exists(), f
    r = run("eval", "--run", str(align_run), "--data", str(data), "--split", "test")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "image->text" in r.stdout and "audio->image" in r.stdout and "zero-shot label" in r.stdout
    m = json.loads((align_run / "metrics.json").read_text())
    assert set(m["retrieval"]) == {"image->text", "text->image", "audio->text", "text->audio", "image->audio", "audio->image"}
    assert list(m["retrieval"]["image->text"]) == ["64", "128", "256", "full"]
    assert 0 <= m["retrieval"]["audio->text"]["full"]["R@1"] <= 1
    assert (align_run / "umap.png").stat().st_size > 10_000

def test_clear_errors(data, tmp_path):
    r = run("eval", "--run", str(tmp_path / "nothing"), "--data", str(data))
    assert r.returncode != 0 and "not a run folder" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epoch: 3\n")
    r = run("align", "--data", str(data), "--out", str(tmp_path / "r"), "--config", str(bad))
    assert r.returncode != 0 and "unknown key(s) ['epoch']" in r.stderr
    r = run("align", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r"))
    assert r.returncode != 0 and "missing" in r.stderr

def test_run_folders_are_told_apart(data, align_run, tmp_path):
    """A Stage 1 run cannot answer, an existing run is not trained over, and the errors say what to do, in one line."""
    r = run("ask", "--run", str(align_run), str(data / "img" / "0.png"), "What digit?")
    assert r.returncode != 0 and "is a Stage 1 run; train Stage 2 on it with `edgeglass vlm`" in r.stderr, r.stderr[-2000:]
    r = run("align", "--data", str(data), "--out", str(align_run))
    assert r.returncode != 0 and "holds a run already" in r.stderr and "`--resume`" in r.stderr and "`--out`" in r.stderr, r.stderr[-2000:]
    assert "resume=True" not in r.stderr, r.stderr   # the flag a user types, not the Python argument
    for r in (r,): assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1

def test_export_round_trips(data, align_run, tmp_path):
    """`export --to sentence-transformers`: plain SentenceTransformer(DIR) gives encode_text to 1e-5, truncate_dim the MRL
    prefix; `export --to hub`: from_pretrained loads it back and the card carries the run's metrics."""
    import torch
    from huggingface_hub import ModelCard
    from sentence_transformers import SentenceTransformer
    from edgeglass.models.alignment import MultimodalAlignmentModel
    r = run("export", "--run", str(align_run), "--to", "sentence-transformers", "--out", str(tmp_path / "st"))
    assert r.returncode == 0, r.stderr[-3000:]
    texts = ["the digit seven", "a handwritten zero", "eight"]
    model = MultimodalAlignmentModel.from_pretrained(align_run / "model")
    with torch.no_grad(): full, prefix = model.encode_text(texts), model.encode_text(texts, dim=128)
    st = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    assert torch.allclose(torch.tensor(st.encode(texts)), full, atol=1e-5)
    st128 = SentenceTransformer(str(tmp_path / "st"), device="cpu", truncate_dim=128)
    assert torch.allclose(torch.tensor(st128.encode(texts, normalize_embeddings=True)), prefix, atol=1e-5)
    r = run("export", "--run", str(align_run), "--to", "hub", "--out", str(tmp_path / "hub"))
    assert r.returncode == 0, r.stderr[-3000:]
    back = MultimodalAlignmentModel.from_pretrained(tmp_path / "hub")
    with torch.no_grad(): assert torch.allclose(back.encode_text(texts), full, atol=1e-6)
    card = ModelCard.load(tmp_path / "hub" / "README.md")
    assert card.data.library_name == "edgeglass" and "sentence-transformers/all-MiniLM-L6-v2" in card.data.base_model
    if (align_run / "metrics.json").exists():
        assert len(card.data.eval_results) >= 2 and "linear probe R@1" in card.text
    r = run("export", "--run", str(align_run), "--to", "hub", "--out", str(tmp_path / "hub"))
    assert r.returncode != 0 and "exists and is not empty" in r.stderr and len(r.stderr.strip().splitlines()) == 1

def test_vlm_then_ask(data, align_run, tmp_path):
    """Stage 2 with SmolLM2-135M + LoRA for a few steps, then `ask` answers from the run; bad questions and images fail clearly."""
    cfg = tmp_path / "vlm.yaml"
    cfg.write_text("vlm:\n  prefix_pool: 4\n  max_new_tokens: 3\ntrain:\n  max_steps: 3\n  batch_size: 4\n  checkpoint_every: 3\n"
                   "max_eval_items: 4\nbf16: true\n")
    out = tmp_path / "vlm"
    r = run("vlm", "--data", str(data), "--align", str(align_run), "--out", str(out), "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-3000:]
    for f in ("model/config.json", "vision/config.json", "metrics.json", "examples.png"):
        assert (out / f).exists(), f
    m = json.loads((out / "metrics.json").read_text())["vqa"]
    assert m["n"] == 4 and 0 <= m["exact_match"] <= 100
    img = str(data / "img" / "0.png")
    r = run("ask", "--run", str(out), img, "What digit is in the image?")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() and len(r.stdout.strip().splitlines()) == 1   # one answer line (a marker when the answer is empty)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    for args, says in [((str(tmp_path / "broken.png"), "What digit?"), "broken.png"),
                       ((str(tmp_path / "none.png"), "What digit?"), "none.png"),
                       ((img, "   "), "empty question"),
                       ((img, "why " * 9000), "context")]:
        r = run("ask", "--run", str(out), *args)
        assert r.returncode != 0 and says in r.stderr, (says, r.stderr[-2000:])
        assert "Traceback" not in r.stderr
    r = run("search", "--run", str(out), "--data", str(data), "--k", "2", img)   # a Stage 2 run searches with its Stage 1 model
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines()[0].split()[1] == img
