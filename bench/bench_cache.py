"""Epoch time of Stage 1 training from the frozen-feature cache vs from raw files, on the offline demo data.

Run: `HF_HUB_OFFLINE=1 python bench/bench_cache.py` (EfficientNet-Lite0 + MiniLM + Whisper tiny.en,
`MultimodalAlignmentConfig.offline()`, on the 600 training rows of `build_demo_data()`). Prints a table and
writes `bench/results/cache.json`. A benchmark, not a test: both runs use the same seed and must give the
same losses (it prints the largest difference); the timings are what it reports.
"""
from __future__ import annotations
import json, os, platform, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from fastcore.script import call_parse

from edgeglass.cache import FeatureCache, FeatureDataset, RawDataset
from edgeglass.data import build_demo_data, load_manifest
from edgeglass.models.alignment import MultimodalAlignmentConfig, MultimodalAlignmentModel
from edgeglass.train import TrainConfig, train_alignment
from edgeglass.utils import atomic_write_json, seed_everything
from common import finish, machine_info

def _model() -> MultimodalAlignmentModel:
    "The offline model, seeded: both runs start from the same heads."
    seed_everything(0)
    return MultimodalAlignmentModel(MultimodalAlignmentConfig.offline()).eval()

def _timed(f):
    "`(seconds, f())`."
    t = time.perf_counter(); out = f()
    return time.perf_counter() - t, out

@call_parse
def main(n_train:int=600, # training rows used (the demo has 600)
         epochs:int=1, # epochs timed on each path
         batch_size:int=64, # rows per batch
         cache_root:str=None, # feature cache folder; None: a fresh temporary one (extraction timed cold)
         threads:int=0, # torch intra-op threads (0: torch's default); on a busy machine 1 avoids thread contention
         out:str='bench/results/cache.json', # where to write the numbers
        ):
    "Time feature extraction once, then `epochs` epochs from the cache and from raw files; print the ratio."
    if threads: torch.set_num_threads(threads)
    machine = machine_info()
    ds = load_manifest(build_demo_data(), split='train')
    ds = ds.select(range(min(n_train, len(ds))))
    tmp = Path(tempfile.mkdtemp(prefix='bench_cache_'))
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, checkpoint_every=10**6, log_every=1)
    model = _model()
    cache = FeatureCache(cache_root or tmp/'features')
    t_extract, fds = _timed(lambda: FeatureDataset.from_manifest(cache, model, ds, progress=True))
    t_cache, h_cache = _timed(lambda: train_alignment(model, fds, None, cfg, tmp/'from_cache', progress=False))
    raw_model = _model()
    t_raw, h_raw = _timed(lambda: train_alignment(raw_model, RawDataset.from_manifest(raw_model, ds), None, cfg, tmp/'from_raw', progress=True))
    diff = max(abs(a['loss'] - b['loss']) for a, b in zip(h_cache.train, h_raw.train))
    res = {'benchmark': 'Stage 1 training epoch: from the feature cache vs from raw files', 'machine': machine,
           'load_average': [round(x, 1) for x in os.getloadavg()], 'rows': len(ds), 'epochs': epochs, 'batch_size': batch_size, 'steps': h_cache.step, 'torch_threads': torch.get_num_threads(),
           'cpu': platform.processor() or platform.machine(), 'cpus': os.cpu_count(), 'extract_s': round(t_extract, 2),
           'epoch_raw_s': round(t_raw / epochs, 2), 'epoch_cache_s': round(t_cache / epochs, 2),
           'speedup': round(t_raw / t_cache, 1), 'max_loss_diff': diff, 'cache_mb': round(sum(p.stat().st_size for p in cache.root.rglob('*.safetensors')) / 1e6, 1)}
    print(f"\n{res['rows']} rows, batches of {batch_size}, {res['steps']} steps per run, {res['cpus']} CPUs, {res['torch_threads']} torch threads, "
          f"load average {res['load_average'][1]} (5 min)")
    print(f"{'feature extraction (once)':<28}{res['extract_s']:>9.1f} s   ({res['cache_mb']} MB of shards)")
    print(f"{'epoch from raw files':<28}{res['epoch_raw_s']:>9.1f} s")
    print(f"{'epoch from the cache':<28}{res['epoch_cache_s']:>9.1f} s")
    print(f"{'speed-up per epoch':<28}{res['speedup']:>9.1f} x")
    print(f"{'largest loss difference':<28}{diff:>9.1e}")
    atomic_write_json(out, finish(res))
