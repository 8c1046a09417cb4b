"""Training from a feature cache of a million items: epoch time and peak memory, mapped shards against preloading.

Writes a synthetic cache (random features in the cache's own format: safetensors shards of 1,024 items with an
index) for two cases, then trains tiny heads with the contrastive loss for one epoch through `Trainer`:

- **pooled**: one 256-wide vector per item for each of two modalities (float16 on disk);
- **sequences**: 16 tokens of 256 per item for one modality, one vector for the other.

Each case trains from `FeatureDataset(preload=False)`: shards memory-mapped on access, at most `window + 1` per
modality, in `BlockShuffleSampler` order. The pooled case also trains from a preloaded dataset (every item read into
memory first), the simple way; the sequence case does not, since its features alone are 16 GB in float32. Each run
is a fresh process, so its peak RSS (`VmHWM`) is its own; it also reports the RSS after the dataset is built and
the most the mapped shards can hold (`window + 1` shards per modality). The RSS before the epoch includes the row keys
and each namespace's index (the list of its items), about 200 bytes per item per modality, read before the epoch
starts; the growth during the epoch is then the mapped shards and the training step, the same at every size. Each
case runs at every `--items` size. Writes `bench/results/cache_scale.json`.

    python bench/bench_cache_scale.py                     # 20,000 and 1,000,000 items (about 9.5 GB of shards under --root)
    python bench/bench_cache_scale.py --items 20000 --quick
"""
from __future__ import annotations
import json, os, shutil, subprocess, sys, time
from pathlib import Path

import torch
from fastcore.script import Param, call_parse, store_true

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, finish, machine_info, proc_kb

SHARD = 1024

def build(root:Path, items:int, tokens:int, dim:int):
    "Two namespaces under `root`: 'a' with `tokens` tokens per item, 'b' with one; float16; one index write each."
    from edgeglass.cache import FeatureStore, ItemFeatures
    g = torch.Generator().manual_seed(0)
    for ns, t in (('a', tokens), ('b', 1)):
        store = FeatureStore(root/ns, {'bench': ns}); store.folder.mkdir(parents=True, exist_ok=True)
        shards = {}
        for j, lo in enumerate(range(0, items, SHARD)):
            x = torch.randn(min(SHARD, items - lo), t, dim, generator=g).half()
            feats = {f'{lo + i:08d}': ItemFeatures(x[i].clone()) for i in range(x.shape[0])}
            name = f'shard-{j:06d}.safetensors'
            shards[name] = store.save_shard(feats, name)
        store.add_shards(shards)

def run_case(root:str, items:int, preload:bool, window:int, batch:int, dim:int) -> dict:
    "One training epoch in this process; its peak RSS."
    import torch.nn.functional as F
    from torch import nn
    from edgeglass.cache import FeatureCache, FeatureDataset
    from edgeglass.losses import AlignmentLoss
    from edgeglass.train import Task, TrainConfig, Trainer
    from edgeglass.utils import no_bitsandbytes, save_safetensors
    with no_bitsandbytes(): import accelerate, transformers.optimization   # what the trainer imports, loaded before measuring
    torch.set_num_threads(1)
    t0, start_kb = time.perf_counter(), proc_kb('VmRSS')
    keys = {m: [f'{ns}:{i:08d}' for i in range(items)] for m, ns in (('vision', 'a'), ('text', 'b'))}
    cache = FeatureCache(root, shard_size=SHARD)
    ds = FeatureDataset(cache, keys, preload=preload, window=window)
    ds.nbytes()                                                                 # reads each namespace's index (its item list) now
    build_s = time.perf_counter() - t0

    class Heads(Task):
        def forward(self, batch):
            v, t = batch['vision'], batch['text']
            pooled = v.sequence.mean(1) if v.mask is None else (v.sequence * v.mask[..., None]).sum(1) / v.mask.sum(1, keepdim=True)
            return self.model['loss'](self.model['vision'](pooled), self.model['text'](t.sequence[:, 0])).loss
        def save(self, folder): save_safetensors(self.trainable_state(), Path(folder)/'heads.safetensors')
    torch.manual_seed(0)
    model = nn.ModuleDict({'vision': nn.Linear(dim, 128), 'text': nn.Linear(dim, 128), 'loss': AlignmentLoss(mrl_dims=())})
    out = Path(root).parent/f'run-{os.getpid()}'
    cfg = TrainConfig(epochs=1, batch_size=batch, lr=1e-3, warmup_steps=0, checkpoint_every=10**9, log_every=max(1, len(ds) // batch // 20))
    before = proc_kb('VmRSS')
    keys_kb = before - start_kb if not preload else None
    Path('/proc/self/clear_refs').write_text('5')                                   # peak RSS from here on
    t1 = time.perf_counter()
    h = Trainer(Heads(model), ds, cfg, out, progress=False).fit()
    epoch_s = time.perf_counter() - t1
    shutil.rmtree(out, ignore_errors=True)
    shard_bytes = max(info['size'] for ns in ('a', 'b') for info in cache.reader(ns).index['shards'].values())
    return {'preload': preload, 'steps': h.step, 'rss_keys_and_index_mib': None if keys_kb is None else round(keys_kb / 1024), 'dataset_build_s': round(build_s, 1), 'epoch_s': round(epoch_s, 1),
            'rss_before_mib': round(before / 1024), 'peak_rss_mib': round(proc_kb('VmHWM') / 1024),
            'maps_at_most_mib': None if preload else round(2 * (window + 1) * shard_bytes / 2**20),
            'first_loss': round(h.train[0]['loss'], 3) if h.train else None, 'last_loss': round(h.train[-1]['loss'], 3) if h.train else None}

def measure(folder:Path, case:str, items:int, tokens:int, window:int, batch:int, dim:int) -> list[dict]:
    "Build one case's cache (unless there) and train one epoch from it in a fresh process, mapped (and preloaded when pooled)."
    t0 = time.perf_counter()
    if not (folder/'b'/'index.json').exists():
        shutil.rmtree(folder, ignore_errors=True); build(folder, items, tokens, dim)
    write_s, gb = time.perf_counter() - t0, sum(p.stat().st_size for p in folder.rglob('*.safetensors')) / 1e9
    rows = []
    for preload in ((False, True) if case == 'pooled' else (False,)):
        arg = json.dumps({'root': str(folder), 'items': items, 'preload': preload, 'window': window, 'batch': batch, 'dim': dim})
        r = subprocess.run([sys.executable, __file__, '--_case', arg], capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
        if r.returncode: raise SystemExit(f'{case} preload={preload} failed:\n{r.stderr[-3000:]}')
        res = json.loads(next(l for l in r.stdout.splitlines() if l.startswith('RESULT '))[7:])
        res.update(case=case, tokens=tokens, items=items, dim=dim, shards_gb=round(gb, 2), write_s=round(write_s, 1))
        rows.append(res)
        print(f'{case:<12} {"preloaded" if preload else "mapped":<10} {items:>9,} {gb:>9.2f} {res["dataset_build_s"]:>8.1f} {res["epoch_s"]:>8.1f} '
              f'{res["rss_keys_and_index_mib"] if res["rss_keys_and_index_mib"] is not None else "-":>6} MiB {res["rss_before_mib"]:>6} MiB {res["peak_rss_mib"]:>5} MiB {res["maps_at_most_mib"] or "-":>8}', flush=True)
    return rows

@call_parse
def main(items:Param('items in each case (several: one run per size)', int, nargs='+')=[20_000, 1_000_000],
         dim:int=256, # feature width
         tokens:int=16, # tokens per item in the sequence case
         window:int=8, # BlockShuffleSampler window (shards shuffled together)
         batch:int=1024, # batch size
         root:str=None, # where to write the synthetic caches (default: ~/.cache/edgeglass/bench/cache_scale)
         keep:store_true=False, # keep the caches (else deleted at the end)
         quick:store_true=False, # CI: do not write bench/results
         _case:str=None, # internal: run one case in this process (JSON arguments)
        ):
    "Build both caches, train one epoch per case in a fresh process, print and write the results."
    if _case: print('RESULT ' + json.dumps(run_case(**json.loads(_case)))); return
    root = Path(root or Path.home()/'.cache'/'edgeglass'/'bench'/'cache_scale')
    rows = []
    print(f'{"case":<12} {"dataset":<10} {"items":>9} {"shards GB":>9} {"build s":>8} {"epoch s":>8} {"keys+index":>10} {"RSS before":>10} {"peak RSS":>9} {"maps <=":>8}')
    try:
        for n in items:
            for case, t in (('pooled', 1), ('sequences', tokens)):
                rows += measure(root/f'{case}-{n}-{dim}', case, n, t, window, batch, dim)
    finally:
        if not keep: shutil.rmtree(root, ignore_errors=True)
    res = finish({'machine': machine_info(window=window, batch=batch, shard_items=SHARD), 'rows': rows})
    if not quick:
        from edgeglass.utils import atomic_write_json
        atomic_write_json(RESULTS/'cache_scale.json', res); print(f'wrote {RESULTS/"cache_scale.json"}')
