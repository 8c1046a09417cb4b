"""WebDataset tar shards as dataset input: the writer's round trip, brace patterns, torn and incomplete samples,
a two-process extraction over shards, and `edgeglass align` on shards giving the metrics of the same data as a folder."""
import io, json, os, shutil, subprocess, sys, tarfile
from pathlib import Path

import pytest

from edgeglass.data import ManifestError, expand_braces, load_manifest, manifest_report, shard_paths, write_webdataset
from edgeglass.cache import FeatureCache, content_key
from edgeglass.testing import shapes_manifest, tiny_alignment_model

EXE = Path(sys.executable).parent / "edgeglass"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    "12 rows of shape, tone and caption; every third is a test row."
    return shapes_manifest(tmp_path_factory.mktemp("wds") / "data", n=12, test_every=3, size=32, subdir="media")

@pytest.fixture(scope="module")
def shards(folder):
    "The folder as three shards of four samples; returns the brace pattern."
    paths = write_webdataset(folder, folder.parent / "shards", maxcount=4)
    assert [p.name for p in paths] == ["000000.tar", "000001.tar", "000002.tar"]
    return str(folder.parent / "shards" / "{000000..000002}.tar")

def _tar(path, members):
    "A tar of `(name, bytes)` members, written by hand."
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name); info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path

def test_writer_round_trip(folder, shards):
    for split in (None, "train", "test"):
        a, b = load_manifest(folder, split), load_manifest(shards, split)
        assert sorted(a.column_names) == sorted(b.column_names) == ["audio", "color", "image", "shape", "split", "text"]
        for c in ("text", "split", "color", "shape"): assert list(a[c]) == list(b[c]), (split, c)
        for c, m in (("image", "vision"), ("audio", "audio")):
            assert [content_key(m, p) for p in a[c]] == [content_key(m, p) for p in b[c]], (split, c)
            assert all(".tar#" in p for p in b[c])
        ra, rb = manifest_report(a), manifest_report(b)
        assert (ra.total, ra.kept, ra.lines, ra.skipped) == (rb.total, rb.kept, rb.lines, rb.skipped)
    assert len(load_manifest(shards, "test")) == 4
    with tarfile.open(shard_paths(shards)[0]) as tf:
        assert tf.getnames()[:4] == ["000000000.png", "000000000.wav", "000000000.txt", "000000000.json"]
        assert json.loads(tf.extractfile("000000000.json").read()) == {"color": "red", "shape": "circle", "split": "test"}

def test_brace_patterns(folder, shards):
    assert expand_braces("d/{000000..000002}.tar") == ["d/000000.tar", "d/000001.tar", "d/000002.tar"]
    assert expand_braces("d/{a,b}{1..2}.tar") == ["d/a1.tar", "d/a2.tar", "d/b1.tar", "d/b2.tar"]
    d = folder.parent / "shards"
    assert list(load_manifest(str(d / "{000002,000000}.tar"))["text"]) == list(load_manifest(folder)["text"])[8:] + list(load_manifest(folder)["text"])[:4]
    assert len(load_manifest(d / "000001.tar")) == 4                       # one .tar, no braces
    with pytest.raises(FileNotFoundError, match="shard not found: .*000003.tar"): load_manifest(str(d / "{000000..000003}.tar"))

def test_torn_member(folder, shards, tmp_path):
    torn = tmp_path / "torn"; shutil.copytree(folder.parent / "shards", torn)
    whole = (torn / "000001.tar").read_bytes()
    with tarfile.open(torn / "000001.tar") as tf: wav = tf.getmember("000000007.wav")
    (torn / "000001.tar").write_bytes(whole[:wav.offset_data + 100])       # cut inside the clip of the shard's last sample
    pattern = str(torn / "{000000..000002}.tar")
    with pytest.raises(ManifestError, match=r"000001\.tar#000000007: member 000000007\.wav is cut off"): load_manifest(pattern)
    ds = load_manifest(pattern, skip_bad=True)
    rep = manifest_report(ds)
    assert (len(ds), rep.total, rep.skipped, rep.rows["torn_member"]) == (11, 12, {"torn_member": 1}, [8])
    assert rep.problems[0].startswith(f"{torn / '000001.tar'}#000000007: ")
    assert rep.lines == [[1, 7], [9, 12]]                                  # sample 8 (line 8 of the folder's manifest) is left out

def test_missing_caption_and_bad_image(tmp_path):
    png = (Path(shapes_manifest(tmp_path / "src", n=1, test_every=None, audio=False)) / "img0.png").read_bytes()
    nocap = _tar(tmp_path / "nocap.tar", [("a.png", png), ("a.txt", b"a cat"), ("a.json", b'{"category": "cat", "url": "http://x"}'),
                                          ("b.png", png), ("b.json", b'{"category": "dog"}')])
    with pytest.raises(ManifestError, match=r"nocap\.tar#b: no value for 'text' \(no \.txt member\)"): load_manifest(nocap)
    ds = load_manifest(nocap, skip_bad=True)
    assert (ds.column_names, list(ds["category"]), manifest_report(ds).skipped) == (["image", "text", "category"], ["cat"], {"missing_value": 1})
    bad = _tar(tmp_path / "bad.tar", [("a.png", b"not a png"), ("a.txt", b"x"), ("b.png", png), ("b.txt", b"y")])
    with pytest.raises(ManifestError, match=r"bad\.tar#a: .*bad\.tar#a\.png@512\+9: unreadable image"): load_manifest(bad, verify="decode")
    assert manifest_report(load_manifest(bad, verify="decode", skip_bad=True)).skipped == {"bad_image": 1}

EXTRACT2 = r"""
import json, sys, torch, torch.distributed as dist
from pathlib import Path
from edgeglass.data import load_manifest
from edgeglass.cache import FeatureCache
from edgeglass.testing import tiny_alignment_model
sys.path.insert(0, sys.argv[4]); from test_webdataset import Spy
torch.set_num_threads(1)
dist.init_process_group('gloo')
pattern, root, out = sys.argv[1:4]
spy, ds = Spy(tiny_alignment_model().eval()), load_manifest(pattern)
keys = {c: FeatureCache(root, shard_size=3).extract(spy, c, list(ds[c]), batch_size=2, progress=False) for c in ('image', 'text', 'audio')}
Path(out, f'rank{dist.get_rank()}.json').write_text(json.dumps({'keys': keys, 'calls': spy.calls}))
dist.destroy_process_group()
"""

class Spy:
    "A model whose backbone calls are counted."
    def __init__(self, model): self.model, self.calls = model, 0
    def extract(self, *a, **kw): self.calls += 1; return self.model.extract(*a, **kw)
    def __getattr__(self, name): return getattr(self.model, name)

def test_two_process_extraction_on_shards(folder, shards, tmp_path):
    "Two gloo processes extract the shards' three modalities; the same keys and features as one process on the folder."
    (tmp_path / "extract2.py").write_text(EXTRACT2)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(tmp_path / "extract2.py"), shards, str(tmp_path / "two"), str(tmp_path), str(Path(__file__).parent)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    spy, one = Spy(tiny_alignment_model().eval()), FeatureCache(tmp_path / "one", shard_size=3)
    ds = load_manifest(folder)
    keys = {c: one.extract(spy, c, list(ds[c]), batch_size=2, progress=False) for c in ("image", "text", "audio")}
    assert ranks[0]["keys"] == ranks[1]["keys"] == keys                   # the members have the files' content keys
    assert min(r["calls"] for r in ranks) > 0 and ranks[0]["calls"] + ranks[1]["calls"] == spy.calls  # shared, none twice
    two = FeatureCache(tmp_path / "two")
    for ks in keys.values():
        for x, y in zip(one.load(ks), two.load(ks)): assert (x.sequence - y.sequence).abs().max() < 1e-6
    assert two.verify() == []

def test_align_on_shards_gives_the_folder_metrics(folder, shards, tmp_path):
    """`edgeglass align --data 'DIR/{000000..000002}.tar'` trains the model the folder trains, and `run_eval` (what `align`
    and `edgeglass eval` measure with) gives the folder's `metrics.json`; each run has its own feature cache. (The runs skip
    the evaluation inside `align`, whose UMAP plot costs ~15 s per process, and measure in this process without plots.)"""
    import torch
    from edgeglass.stage1 import RunConfig, run_align, run_eval
    torch.set_num_threads(1)   # bit-equal floats need the same thread count in both processes (float sums are reordered)
    cfg = RunConfig.tiny(eval_split=None).save(tmp_path / "tiny.yaml")
    r = subprocess.run([str(EXE), "align", "--data", shards, "--out", str(tmp_path / "run_shards"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=300,
                       env={**ENV, "EDGEGLASS_CACHE": str(tmp_path / "cache_shards"), "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "run_shards" / "summary.json").read_text())
    assert (summary["data"], summary["rows"]["train"]["kept"]) == (str(Path(shards).resolve()), 8)
    folder_cache = FeatureCache(tmp_path / "cache_folder")
    run_align(folder, tmp_path / "run_folder", cfg, cache=folder_cache, progress=False)
    want = run_eval(tmp_path / "run_folder", folder, "test", cache=folder_cache, progress=False, plots=False)
    got = run_eval(tmp_path / "run_shards", shards, "test", cache=FeatureCache(tmp_path / "cache_shards" / "features"), progress=False, plots=False)
    assert got["retrieval"]["image->text"]["full"] and got["baselines"]
    assert {k: v for k, v in got.items() if k != "data"} == {k: v for k, v in want.items() if k != "data"}
    assert json.loads((tmp_path / "run_shards" / "metrics.json").read_text())["retrieval"] == want["retrieval"]
