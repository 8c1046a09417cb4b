"""TRM refinement inside `QwenVLM`, on and off, over seeds: the sweep of notebook 17c (`trm_refinement_sweep`) repeated
for several seeds so that a difference between settings can be told from the noise of one run.

The LLM is 17c's fast stand-in: a random Qwen2 (width 128, 2 layers, SmolLM2's tokenizer, every weight trained) over
one Stage 1 run with MLP heads (its 49 grid tokens the prefix), 200 steps of 16 questions, 200 test questions of the
demo's easy-vqa split. Per seed, the random LLM, the refiner and the batches change; the Stage 1 run does not. Settings
are `off` (no refiner) and `T-n` (the refiner with `T` cycles of `n` latent updates). Writes
`bench/results/stage2_trm_refine.json` (`--out` to change); notebook 17c reads it.

    HF_HUB_OFFLINE=1 python bench/stage2_trm_refine.py                      # 3 seeds x 4 settings, about 30 minutes on a core
    HF_HUB_OFFLINE=1 python bench/stage2_trm_refine.py --settings off,2-2   # a shorter sweep
    HF_HUB_OFFLINE=1 python bench/stage2_trm_refine.py --quick              # CI: tiny random models, a few steps, nothing written
"""
from __future__ import annotations
import json, os, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from fastcore.script import call_parse, store_true

from edgeglass.data import build_demo_data
from edgeglass.cache import FeatureCache
from edgeglass.decoders.qwen import QwenDecoderConfig
from edgeglass.models.vlm import QwenVLMConfig
from edgeglass.train import TrainConfig
from edgeglass.stage1 import run_align
from edgeglass.stage2 import VLMRunConfig
from edgeglass.stage2_trm import trm_refinement_sweep
from edgeglass.utils import atomic_write_json
from common import RESULTS, finish, machine_info, torch_threads
from stage2_vqa import stage1_config   # the Stage 1 run of the Stage 2 benches

def parse_settings(s:str) -> list:
    "'off,1-1,2-2' -> [None, (1, 1), (2, 2)]: `off` is the refiner off, `T-n` its cycles and latent updates."
    out = []
    for tok in (t.strip() for t in s.split(',') if t.strip()):
        if tok == 'off': out.append(None); continue
        try: T, n = (int(x) for x in tok.split('-'))
        except ValueError: raise SystemExit(f"--settings: {tok!r} is not 'off' or T-n (such as 2-2)") from None
        if T < 1 or n < 1: raise SystemExit(f'--settings: {tok!r} needs T >= 1 and n >= 1')
        out.append((T, n))
    if not out: raise SystemExit('--settings: give at least one setting')
    return out

def stand_in(seed:int, steps:int, eval_items:int, quick:bool) -> VLMRunConfig:
    "The recipe of one seed: the random width-128 Qwen2 (tiny random in `quick`), every weight trained."
    train = TrainConfig(epochs=100, batch_size=16, lr=1e-3, weight_decay=0.0, drop_last=False, max_steps=steps,
                        warmup_steps=min(5, steps), checkpoint_every=steps, log_every=10, seed=seed)
    if quick: return VLMRunConfig.tiny(train=train, max_eval_items=eval_items, shuffled_control=False)
    dec = QwenDecoderConfig.tiny(vocab_size=49152, tokenizer='smollm2-135m-instruct', freeze_llm=False, init_seed=seed).to_dict()
    dec['llm_config'].update(hidden_size=128, intermediate_size=256, num_attention_heads=4)
    vlm = QwenVLMConfig(decoder=dec, vision_dim=256, proj='mlp', max_new_tokens=4, system_prompt='Answer in one or two words.')
    return VLMRunConfig(vlm=vlm, train=train, max_eval_items=eval_items, shuffled_control=False)

@call_parse
def main(seeds:str='0,1,2', # comma-separated seeds
         settings:str='off,1-1,2-2,3-4', # comma-separated: off, or T-n
         steps:int=200, # training steps per run (batches of 16 questions)
         eval_items:int=200, # test questions measured, spread over the test split
         quick:store_true=False, # CI: tiny random models, a few steps; nothing written to bench/results
         out:str=None, # the JSON (default bench/results/stage2_trm_refine.json)
         work:str=None, # where the runs go (default: a temporary folder)
        ):
    "Train and measure every (seed, setting); one JSON with a row per run."
    sets, ss = parse_settings(settings), [int(s) for s in seeds.split(',')]
    torch_threads()
    folder = build_demo_data(n_train=40 if quick else 600, n_test=12 if quick else 200)
    work = Path(work or tempfile.mkdtemp(prefix='edgeglass-trm-refine-'))
    cache = FeatureCache(work/'cache') if quick else None
    t0 = time.perf_counter()
    align = work/'align'
    if not (align/'model').is_dir():
        if quick:
            from edgeglass.testing import tiny_alignment_model
            tiny_alignment_model(audio=None).save_pretrained(align/'model')
        else:
            run_align(folder, align, stage1_config('mlp', 16, 0), progress=False)
    rows = []
    for seed in ss:
        t = time.perf_counter()
        sweep = trm_refinement_sweep(folder, align, work/f's{seed}', stand_in(seed, 3 if quick else steps, 8 if quick else eval_items, quick),
                                     settings=sets, cache=cache)
        for r in sweep:
            m = json.loads((Path(r['run'])/'metrics.json').read_text())['vqa']
            rows.append({**{k: v for k, v in r.items() if k != 'run'}, 'seed': seed,
                         'by_kind': {k: v['exact_match'] for k, v in m['by_kind'].items()}})
            print(f"seed {seed} {r['refinement']:>6}: exact match {r['exact_match']:.1f}  by kind {rows[-1]['by_kind']}", flush=True)
        print(f'seed {seed}: {time.perf_counter() - t:.0f} s', flush=True)
    if quick:
        assert len(rows) == len(ss) * len(sets) and all(0 <= r['exact_match'] <= 100 for r in rows), rows
        assert all((r['refiner_params'] > 0) == (r['refinement'] != 'off') for r in rows), rows
        return rows
    res = finish({'benchmark': 'TRM refinement inside QwenVLM, on and off, over seeds', 'llm': 'random Qwen2 width 128, 2 layers, all weights trained',
                  'stage1': 'offline encoders, MLP heads, 8 epochs', 'steps': steps, 'batch_size': 16, 'lr': 1e-3, 'eval_items': eval_items,
                  'seeds': ss, 'settings': settings, 'machine': machine_info(), 'seconds': round(time.perf_counter() - t0), 'runs': rows})
    path = Path(out or RESULTS/'stage2_trm_refine.json'); atomic_write_json(path, res); print(f'wrote {path}')
    return res
