"""Stage 1 ablation: which knobs of the heads and the schedule matter, on the demo and on real data, over seeds,
beside the linear and MLP probes on the same cached features.

Run: `HF_HUB_OFFLINE=1 python bench/ablation_stage1.py` (all datasets, 3 seeds; about an hour on 2 CPUs once the
features are cached) or `--quick` (the CI version: the shapes fixture on tiny random encoders, 1 seed, 3 variants,
seconds). Datasets: `demo` (`build_demo_data()`), `emoji` and `icons` (built by `scripts/real_data.py` into
`~/.cache/edgeglass/real_data`; built here if missing). Every variant changes one knob of the default
`RunConfig()` and trains through the library's own path (`train_alignment` on cached features, `embed`,
`retrieval_table` with same-caption hits), so the default row is exactly what `edgeglass align` does. Writes
`bench/results/stage1_ablation.json` (`--out` to change), read and plotted by `nbs/17e_stage1_ablation.ipynb`.
`--base last` turns the knobs from the default's heads on the last backbone layer only: the configuration the
runs made before the default read every layer were turned from, for adding seeds to them.
"""
from __future__ import annotations
import json, os, subprocess, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from fastcore.script import call_parse, store_true

from edgeglass.utils import atomic_write_json, seed_everything
from edgeglass.data import build_demo_data, load_manifest, modalities
from edgeglass.cache import FeatureCache
from edgeglass.models.alignment import MultimodalAlignmentModel
from edgeglass.train import train_alignment
from edgeglass.evaluate import retrieval_table
from edgeglass.probes import ProbeConfig, probe_baselines, summary_features
from edgeglass.stage1 import RunConfig, embed, features_checked, fit_to_data
from common import RESULTS, finish, machine_info

REAL = Path.home()/'.cache'/'edgeglass'/'real_data'

def _heads(**head) -> dict:
    "Overrides of every encoder's head."
    return {'model': {m: {'head': head} for m in ('vision', 'text', 'audio')}}

LAST = {'summary_layers': 'last'}   # the token-reading adapters read the last layer only

VARIANTS = {  # name -> (knob, overrides of the default RunConfig); 'default' is `RunConfig()` itself
    'default': ('default', {}),
    'layers: last only': ('backbone layers', {'model': {m: LAST for m in ('vision', 'text', 'audio')}}),
    'adapter: linear': ('adapter', _heads(adapter='linear')),
    'adapter: mlp': ('adapter', _heads(adapter='mlp', dropout=0.1)),
    'adapter: perceiver (vision, audio)': ('adapter', {'model': {m: {**LAST, 'head': {'adapter': 'perceiver', 'num_latents': 16, 'depth': 1,
                                                                                       'num_heads': 4}} for m in ('vision', 'audio')}}),
    'vision: backbone average (no GeM)': ('vision pooling', {'model': {'vision': {'head': {'summary': 'pooled'}}}}),
    'audio: attention pooling': ('audio pooling', {'model': {'audio': {**LAST, 'head': {'adapter': 'attention'}}}}),
    'audio: perceiver (16 latents)': ('audio pooling', {'model': {'audio': {**LAST, 'head': {'adapter': 'perceiver', 'num_latents': 16,
                                                                                             'depth': 1, 'num_heads': 4}}}}),
    'MRL off (full width only)': ('MRL', {'model': {'loss': {'mrl_weight': 0.0}}}),
    'batch 128': ('batch size', {'train': {'batch_size': 128}}),
    'epochs 10': ('epochs', {'train': {'epochs': 10}}),
    'temperature fixed 0.07': ('temperature', {'model': {'loss': {'learnable_temperature': False}}}),
    'loss: siglip (sigmoid, t 0.1, bias -10)': ('loss', {'model': {'loss': {'kind': 'siglip', 'temperature': 0.1}}}),
}
QUICK = ('default', 'adapter: linear', 'audio: perceiver (16 latents)')

def _merge(d:dict, u:dict) -> dict:
    "`d` updated recursively by `u` (a copy)."
    out = dict(d)
    for k, v in u.items(): out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out

def variant_config(base:RunConfig, overrides:dict, seed:int, present:tuple) -> RunConfig:
    "The base config with `overrides`, the seed, no mid-run checkpoints, fitted to the data's modalities."
    d = _merge(base.to_dict(), overrides)
    d['model'] = {k: v for k, v in d['model'].items() if not (k in ('vision', 'text', 'audio') and base.model.to_dict()[k] is None)}
    d['train'] = {**d['train'], 'seed': seed, 'checkpoint_every': 10**6, 'log_every': 10**6}
    cfg = RunConfig.from_dict(d)
    return cfg.replace(model=fit_to_data(cfg.model, present).to_dict())

def last_layer(cfg:RunConfig) -> RunConfig:
    "`cfg` with every encoder's heads on its backbone's last layer only (the default before it read every layer)."
    return cfg.replace(model=_merge(cfg.model.to_dict(), {m: LAST for m in cfg.model.modalities}))

def dataset(name:str, quick:bool) -> Path:
    "The folder of a dataset name (built if missing)."
    if name == 'demo': return build_demo_data()
    if name == 'shapes':
        from edgeglass.testing import shapes_manifest
        return shapes_manifest(Path(tempfile.mkdtemp())/'shapes', n=48, test_every=3, size=32)
    if not (REAL/name/'metadata.jsonl').is_file():
        subprocess.run([sys.executable, str(Path(__file__).parents[1]/'scripts'/'real_data.py'), '--only', name], check=True)
    return REAL/name

def _r(table:dict) -> dict:
    "R@1 and R@10 per direction and width, rounded."
    return {d: {w: {k: round(m[k], 4) for k in ('R@1', 'R@10')} for w, m in row.items()} for d, row in table.items()}

def run_dataset(name:str, data:Path, base:RunConfig, variants:list[str], seeds:list[int], cache:FeatureCache, save=None) -> dict:
    "Every variant and the probes on one dataset, for every seed; `save(out)` after each run (partial results survive a stop)."
    train_ds, test_ds = load_manifest(data, split='train'), load_manifest(data, split='test')
    present = modalities(train_ds)
    m0 = MultimodalAlignmentModel(fit_to_data(base.model, present))
    train_f, _ = features_checked(m0, train_ds, cache, progress=False)
    test_f, _ = features_checked(m0, test_ds, cache, progress=False)
    captions, train_captions = list(test_ds['text']), list(train_ds.select(train_f.rows)['text'])
    extraction = lambda model: json.dumps({m: {k: v for k, v in getattr(model.config, m).to_dict().items() if k != 'head'}
                                           for m in model.encoders}, sort_keys=True)   # the encoder settings besides the heads
    known = {extraction(m0): (train_f, test_f)}
    def features(model):   # a variant whose encoders extract differently (e.g. the last layer only) reads its own cached features
        if (key := extraction(model)) not in known: known[key] = tuple(features_checked(model, ds, cache, progress=False)[0] for ds in (train_ds, test_ds))
        return known[key]
    out = {'n_train': len(train_f), 'n_test': len(test_f), 'runs': []}
    for seed in seeds:
        t = time.perf_counter()
        mc = m0.config
        base_tab = probe_baselines(summary_features(train_f), summary_features(test_f), mc.loss, mc.dim, mc.mrl_dims,
                                   labels=captions, cfg=ProbeConfig(seed=seed))
        for kind, tab in base_tab.items():
            out['runs'].append({'variant': f'{kind} probe', 'knob': 'probe', 'seed': seed, 'seconds': round(time.perf_counter() - t, 1), 'retrieval': _r(tab)})
        for v in variants:
            knob, over = VARIANTS[v]
            cfg = variant_config(base, over, seed, present)
            seed_everything(seed)
            model = MultimodalAlignmentModel(cfg.model)
            tr_f, te_f = features(model)
            t = time.perf_counter()
            with tempfile.TemporaryDirectory() as d: train_alignment(model, tr_f, None, cfg.train, d, progress=False)
            secs = time.perf_counter() - t
            tab = retrieval_table(embed(model, te_f), dims=cfg.model.mrl_dims, labels=captions)
            fit = retrieval_table(embed(model, tr_f), dims=cfg.model.mrl_dims[:1], labels=train_captions)  # the training rows: how much it overfits
            out['runs'].append({'variant': v, 'knob': knob, 'seed': seed, 'seconds': round(secs, 1), 'retrieval': _r(tab),
                                'train_R@1': {d: round(r['full']['R@1'], 4) for d, r in fit.items()},
                                'trainable_params': sum(p.numel() for p in model.parameters() if p.requires_grad)})
            if save: save(out)
            print(f"{name:<6} seed {seed} {v:<36} {secs:6.1f}s  " + '  '.join(
                f"{d} {tab[d]['full']['R@1']:.3f}" for d in ('image->text', 'text->image', 'audio->text', 'text->audio') if d in tab), flush=True)
    return out

@call_parse
def main(datasets:str='emoji,icons,demo', # comma-separated: demo, emoji, icons (or shapes, the tiny fixture)
         seeds:int=3, # seeds 0 .. seeds-1
         seed_list:str=None, # instead of --seeds: these seeds, comma-separated (e.g. to add seeds to an earlier run)
         variants:str=None, # variant names separated by ';' (default: all)
         quick:store_true=False, # CI: shapes on tiny random encoders, 1 seed, 3 variants
         out:str=None, # the JSON to write (default bench/results/stage1_ablation.json; --quick: a temporary file)
         threads:int=2, # torch threads
         base:str='default', # the configuration the knobs turn: 'default' (`RunConfig()`) or 'last' (its heads on the last layer only)
        ):
    "Train every variant on every dataset and seed; write the JSON."
    torch.set_num_threads(threads)
    if quick: datasets, seeds, names, base = 'shapes', 1, list(QUICK), RunConfig.tiny()
    elif base not in ('default', 'last'): raise SystemExit(f"--base: {base!r} is not 'default' or 'last'")
    else: names, base = (variants.split(';') if variants else list(VARIANTS)), RunConfig() if base == 'default' else last_layer(RunConfig())
    if quick:   # tiny heads: the token adapters' widths and the trainer's schedule from the tiny presets
        base = base.replace(train={**base.train.to_dict(), 'epochs': 3, 'batch_size': 8})
    unknown = [v for v in names if v not in VARIANTS]
    if unknown: raise SystemExit(f'--variants: unknown {unknown}; known: {list(VARIANTS)}')
    cache = FeatureCache(Path(tempfile.mkdtemp())/'cache') if quick else FeatureCache()
    seed_ids = [int(x) for x in seed_list.split(',')] if seed_list else list(range(seeds))
    res = {'machine': machine_info(), 'seeds': seed_ids, 'variants': {v: VARIANTS[v][0] for v in names},
           'default_config': base.to_dict(), 'datasets': {}}
    path = Path(out) if out else (Path(tempfile.mkdtemp())/'stage1_ablation.json' if quick else RESULTS/'stage1_ablation.json')
    for name in datasets.split(','):
        def save(d, name=name): atomic_write_json(path, {**res, 'datasets': {**res['datasets'], name: d}})
        res['datasets'][name] = run_dataset(name, dataset(name, quick), base, names, seed_ids, cache, save)
    atomic_write_json(path, finish(res))
    print('wrote', path)
