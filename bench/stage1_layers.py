"""Stage 1: do the heads gain from several backbone layers, and does the linear probe gain as much?

The default heads of the last-layer configuration read one summary vector per item: the GeM of EfficientNet-Lite0's
head grid, MiniLM's sentence vector, the mean of Whisper tiny.en's last frames. This script measured, before the
library had an option for it (it now has: `summary_layers='all'`, the offline default, notebooks 06 to 10), what the
same heads gain from summaries of earlier layers of the same frozen backbones, each LayerNormed and concatenated
with the last one, and whether the linear probe gains as much from them:

  vision  the average of stage 7's output (320 channels, the last block before the 1x1 head convolution)
  text    the token means of MiniLM's layers 4 and 5 (of 6)
  audio   the frame means of Whisper's layers 2 and 3 (of 4), over the real frames

Four variants per seed: the linear probe (`edgeglass.probes`) on the last-layer summaries (the baseline every
Stage 1 table shows) and on the several-layer ones; the offline default's residual heads with the default schedule
(`RunConfig()`: 30 epochs, batches of 256, lr 2e-3, warmup + cosine) trained by `fit_heads` below on the
last-layer summaries and on the several-layer ones. `fit_heads` is a plain loop over summary vectors, not
`train_alignment`, so its last-layer row is a check of the loop against the library's default (notebook 17e's
`default` row), not the default itself.

`--layers every` reads every layer instead (all seven stage ends of EfficientNet, all six layers of MiniLM, all four of
Whisper): a rule fixed in advance, where the three above were settled on a few comparisons with the icons test split.

Run: `HF_HUB_OFFLINE=1 python bench/stage1_layers.py` (emoji and icons, 3 seeds; about 15 minutes on 2 CPUs), with
`--layers every --out bench/results/stage1_layers_every.json` for the rule, or `--quick` (the demo's first 96 training
and 48 test rows, 1 seed, 2 epochs: the CI check). Writes `bench/results/stage1_layers.json`; notebook
`nbs/17e_stage1_ablation.ipynb` reads every `stage1_layers*.json`.
"""
from __future__ import annotations
import os, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from torch import nn, Tensor
from fastcore.script import call_parse, store_true

from edgeglass.utils import atomic_write_json, no_bitsandbytes
from edgeglass.data import build_demo_data, load_manifest, modalities
from edgeglass.cache import backbone_features, read_item
from edgeglass.fusion import masked_mean
from edgeglass.losses import TriModalAlignmentLoss
from edgeglass.encoders.base import ProjectionHead
from edgeglass.models.alignment import MultimodalAlignmentModel
from edgeglass.evaluate import retrieval_table
from edgeglass.probes import ProbeConfig, probe_baselines
from edgeglass.stage1 import RunConfig, fit_to_data
from common import RESULTS, finish, machine_info

REAL = Path.home()/'.cache'/'edgeglass'/'real_data'
COLUMN = {'vision': 'image', 'text': 'text', 'audio': 'audio'}
EARLIER = {'vision': (-1,), 'text': (3, 4), 'audio': (1, 2)}   # indexes into `layer_modules`: the layers read beside the last
EVERY = {'vision': tuple(range(7)), 'text': tuple(range(5)), 'audio': tuple(range(3))}   # `--layers every`: a rule, not a choice

def layer_modules(model:MultimodalAlignmentModel, modality:str) -> list[nn.Module]:
    "The modules whose outputs are the backbone's layers: EfficientNet's stage ends, MiniLM's and Whisper's transformer layers."
    bb = model.encoders[modality].backbone
    if modality == 'vision': return [b for j, b in enumerate(bb._blocks) if j + 1 == len(bb._blocks) or not bb._blocks[j + 1].residual]
    if modality == 'text': return list(bb[0].auto_model.encoder.layer)
    return list(bb.layers)

@torch.no_grad()
def summaries(model:MultimodalAlignmentModel, modality:str, items:list, earlier:tuple, batch_size:int=32) -> list[Tensor]:
    "Per item, the summaries of the `earlier` layers and then the last layer's (as the default head reads it): a list of `(N, d_l)`."
    mods = [layer_modules(model, modality)[i] for i in earlier]
    out, caught = [], []
    hooks = [m.register_forward_hook(lambda mod, inp, o: caught.append(o[0] if isinstance(o, tuple) else o)) for m in mods]
    try:
        for i in range(0, len(items), batch_size):
            caught.clear()
            f = backbone_features(model, modality, [read_item(modality, x) for x in items[i:i + batch_size]])
            if modality == 'vision':   # the head grid's GeM, with the default vision head's exponent
                p = model.config.vision.head.gem_p
                earlier, last = [h.mean((2, 3)) for h in caught], masked_mean(f.sequence.clamp_min(1e-6).pow(p), None).pow(1 / p)
            else: earlier, last = [masked_mean(h, f.mask) for h in caught], (f.pooled if f.pooled is not None else masked_mean(f.sequence, f.mask))
            out.append([*earlier, last])
    finally:
        for h in hooks: h.remove()
    return [torch.cat([b[k] for b in out]).float() for k in range(len(out[0]))]

class LayerHeads(nn.Module):
    "Per modality: LayerNorm each summary, concatenate them, then the default head's map (linear + zero-initialised MLP branch)."
    def __init__(self, dims:dict[str, list[int]], # modality -> the width of each of its summaries
                 cfg:RunConfig):
        super().__init__()
        self.norms = nn.ModuleDict({m: nn.ModuleList([nn.LayerNorm(d) for d in ds]) for m, ds in dims.items()})
        self.heads = nn.ModuleDict({m: ProjectionHead(sum(ds), getattr(cfg.model, m).head.replace(norm_input=False, summary='pooled'))
                                    for m, ds in dims.items()})

    def forward(self, feats:dict[str, list[Tensor]]) -> dict[str, Tensor]:
        return {m: self.heads[m].map(torch.cat([n(x) for n, x in zip(self.norms[m], xs)], -1)) for m, xs in feats.items()}

def fit_heads(train:dict[str, list[Tensor]], cfg:RunConfig, seed:int) -> LayerHeads:
    "The default heads on summary vectors with the default schedule (AdamW, weight decay on matrices, warmup + cosine, clipping)."
    t = cfg.train
    torch.manual_seed(seed)
    heads, crit = LayerHeads({m: [x.shape[1] for x in xs] for m, xs in train.items()}, cfg), TriModalAlignmentLoss.from_config(cfg.model.loss)
    params = [*heads.parameters(), *crit.parameters()]
    opt = torch.optim.AdamW([{'params': [p for p in params if p.ndim >= 2], 'weight_decay': t.weight_decay},
                             {'params': [p for p in params if p.ndim < 2], 'weight_decay': 0.0}], lr=t.lr, betas=t.betas)
    n = len(next(iter(train.values()))[0])
    bs = min(t.batch_size, n)
    total = t.epochs * (n // bs)
    warm = t.warmup_steps if t.warmup_steps is not None else int(t.warmup_ratio * total)
    with no_bitsandbytes(): from transformers import get_cosine_schedule_with_warmup   # the trainer's schedule (its import reaches peft)
    sched = get_cosine_schedule_with_warmup(opt, warm, total)
    g = torch.Generator().manual_seed(seed)
    heads.train()
    for _ in range(t.epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = crit(heads({m: [x[idx] for x in xs] for m, xs in train.items()})).loss
            opt.zero_grad()
            loss.backward()
            if t.max_grad_norm: nn.utils.clip_grad_norm_(params, t.max_grad_norm)
            opt.step(); sched.step()
    return heads.eval()

def _r(table:dict) -> dict:
    "R@1 and R@10 per direction and width, rounded."
    return {d: {w: {k: round(m[k], 4) for k in ('R@1', 'R@10')} for w, m in row.items()} for d, row in table.items()}

def run_dataset(data:Path, cfg:RunConfig, seeds:list[int], limit:tuple|None=None, every:bool=False) -> dict:
    "The four variants on one dataset, for every seed."
    splits = {s: load_manifest(data, split=s) for s in ('train', 'test')}
    if limit: splits = {s: ds.select(range(min(len(ds), n))) for (s, ds), n in zip(splits.items(), limit)}
    present = modalities(splits['train'])
    cfg = cfg.replace(model=fit_to_data(cfg.model, present).to_dict())
    model = MultimodalAlignmentModel(cfg.model).eval()
    t = time.perf_counter()
    earlier, label = (EVERY, 'every layer') if every else (EARLIER, 'several layers')
    feats = {s: {m: summaries(model, m, list(ds[COLUMN[m]]), earlier[m]) for m in model.encoders} for s, ds in splits.items()}
    out = {'n_train': len(splits['train']), 'n_test': len(splits['test']), 'extract_seconds': round(time.perf_counter() - t, 1),
           'layers': {m: [x.shape[1] for x in feats['test'][m]] for m in feats['test']}, 'runs': []}
    captions, mc = list(splits['test']['text']), cfg.model
    last = {s: {m: xs[-1] for m, xs in f.items()} for s, f in feats.items()}
    several = {s: {m: torch.cat(xs, -1) for m, xs in f.items()} for s, f in feats.items()}
    for seed in seeds:
        for name, (tr, te) in {'linear probe': (last['train'], last['test']), f'linear probe, {label}': (several['train'], several['test'])}.items():
            tab = probe_baselines(tr, te, mc.loss, mc.dim, mc.mrl_dims, labels=captions, kinds=('linear',), cfg=ProbeConfig(seed=seed))['linear']
            out['runs'].append({'variant': name, 'seed': seed, 'retrieval': _r(tab)})
        for name, keep in {'default heads': slice(-1, None), f'default heads, {label}': slice(None)}.items():
            tr = {m: xs[keep] for m, xs in feats['train'].items()}
            heads = fit_heads(tr, cfg, seed)
            with torch.no_grad(): emb = heads({m: xs[keep] for m, xs in feats['test'].items()})
            out['runs'].append({'variant': name, 'seed': seed, 'retrieval': _r(retrieval_table(emb, dims=mc.mrl_dims, labels=captions))})
        print(f'{data.name} seed {seed}: ' + '  '.join(f"{r['variant']} {r['retrieval']['image->text']['full']['R@1']:.3f}/{r['retrieval']['audio->text']['full']['R@1']:.3f}"
                                                     for r in out['runs'] if r['seed'] == seed), flush=True)
    return out

@call_parse
def main(datasets:str='emoji,icons', # comma-separated: emoji, icons (built by scripts/real_data.py), demo
         seeds:int=3, # seeds 0 .. seeds-1
         quick:store_true=False, # CI: the demo's first 96 training and 48 test rows, 1 seed, 2 epochs
         out:str=None, # the JSON to write (default bench/results/stage1_layers.json; --quick: a temporary file)
         threads:int=2, # torch threads
         layers:str='several', # 'several': the layers in EARLIER; 'every': every layer of each backbone (EVERY)
        ):
    "Summaries of several layers against the last one, for the linear probe and the default heads; write the JSON."
    torch.set_num_threads(threads)
    if layers not in ('several', 'every'): raise SystemExit(f"--layers: {layers!r} is not 'several' or 'every'")
    cfg = RunConfig()
    if quick: datasets, seeds, cfg = 'demo', 1, cfg.replace(train={**cfg.train.to_dict(), 'epochs': 2, 'batch_size': 32})
    path = Path(out) if out else (Path(tempfile.mkdtemp())/'stage1_layers.json' if quick else RESULTS/'stage1_layers.json')
    res = {'machine': machine_info(), 'seeds': list(range(seeds)), 'layers': layers,
           'earlier_layers': {m: list(v) for m, v in (EVERY if layers == 'every' else EARLIER).items()}, 'datasets': {}}
    for name in datasets.split(','):
        if name == 'demo': data = build_demo_data()
        else:
            data = REAL/name
            if not (data/'metadata.jsonl').is_file(): raise SystemExit(f'--datasets: {data} is missing; build it with python scripts/real_data.py --only {name}')
        res['datasets'][name] = run_dataset(data, cfg, list(range(seeds)), (96, 48) if quick else None, layers == 'every')
        atomic_write_json(path, res)
    atomic_write_json(path, finish(res))
    print('wrote', path)
