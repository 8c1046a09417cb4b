"""Captioning: SmolLM2-135M + LoRA reading a Stage 1 run's frozen aligned image tokens, against the same LLM trained
without the image. Scores: BLEU-4 and CIDEr against each test image's captions, and grounding R@1 (the Stage 1 model
retrieves, among the test images, the image of each generated caption; the reference captions' own figure beside it).

Both runs go through the library's own path (`run_vlm` with `VLMRunConfig.captioning()`, as `edgeglass vlm --task
caption` does) over one Stage 1 run trained here on the same data. Writes `bench/results/stage2_caption_<data>.json`
(`--out` to change) with the metrics of each run and a few captions per run.

    HF_HUB_OFFLINE=1 python bench/stage2_caption.py                  # the demo data (about 20 minutes on 2 cores)
    HF_HUB_OFFLINE=1 python bench/stage2_caption.py --data DIR       # any image-caption manifest folder
    HF_HUB_OFFLINE=1 python bench/stage2_caption.py --quick          # CI: the tiny random models, a few steps, nothing written
"""
from __future__ import annotations
import json, os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from fastcore.script import call_parse, store_true

from edgeglass.data import build_demo_data
from edgeglass.cache import FeatureCache
from edgeglass.train import TrainConfig
from edgeglass.stage1 import run_align
from edgeglass.stage2 import VLMRunConfig, run_vlm
from edgeglass.utils import atomic_write_json
from common import RESULTS, finish, machine_info, torch_threads
from stage2_vqa import stage1_config   # the Stage 1 run of the Stage 2 benches


def caption_config(use_image:bool, steps:int, batch_size:int, lr:float, eval_images:int, seed:int, quick:bool) -> VLMRunConfig:
    "One captioning run: the library's captioning defaults with this schedule."
    train = TrainConfig(epochs=100, batch_size=batch_size, lr=lr, weight_decay=0.0, drop_last=False, max_steps=steps,
                        warmup_steps=min(10, steps), checkpoint_every=steps, log_every=10, seed=seed)
    if quick: return VLMRunConfig.tiny(task='caption', use_image=use_image, caption_max_new_tokens=6, train=train, max_eval_items=eval_images)
    return VLMRunConfig.captioning(use_image=use_image, train=train, max_eval_items=eval_images, bf16=True)

@call_parse
def main(data:str='demo', # 'demo' (built here) or a manifest folder with image and text columns
         steps:int=300, # LoRA steps per run
         batch_size:int=16, # captions per step
         lr:float=3e-3, # learning rate (LoRA and the prefix projection)
         eval_images:int=200, # test images captioned, spread over the test split
         seed:int=0, # seed of both runs
         quick:store_true=False, # CI: tiny random models, a few steps; nothing written to bench/results
         out:str=None, # the JSON (default bench/results/stage2_caption_<data>.json)
         work:str=None, # where the runs go (default: a temporary folder)
        ):
    "Train the image-prefix and the text-only captioning runs on one dataset; write their metrics."
    torch_threads()
    folder = build_demo_data(n_train=40 if quick else 600, n_test=12 if quick else 200) if data == 'demo' else Path(data)
    name = 'demo' if data == 'demo' else Path(data).name
    work = Path(work or tempfile.mkdtemp(prefix='edgeglass-caption-'))
    cache = FeatureCache(work/'cache') if quick else None
    t0 = time.perf_counter()
    if quick:
        from edgeglass.testing import tiny_alignment_model
        tiny_alignment_model(audio=None).save_pretrained(work/'align'/'model'); align = work/'align'
    else: align = run_align(folder, work/'align', stage1_config('mlp', 16, 0), cache=cache, progress=False)
    runs = {}
    for use_image in (True, False):
        key = 'image prefix' if use_image else 'text only'
        t = time.perf_counter()
        run = run_vlm(folder, align, work/key.replace(' ', '-'), caption_config(use_image, 4 if quick else steps, batch_size, lr,
                                                                                8 if quick else eval_images, seed, quick),
                      cache=cache, progress=False)
        m = json.loads((run/'metrics.json').read_text())['caption']
        preds = [json.loads(l) for l in (run/'predictions.jsonl').read_text().splitlines()]
        runs[key] = {**m, 'seconds': round(time.perf_counter() - t), 'run': str(run),
                     'examples': [{'image': str(Path(p['image']).relative_to(folder)) if str(p['image']).startswith(str(folder)) else p['image'],
                                   'caption': p['prediction'], 'references': p['references']} for p in preds[:8]]}
        print(f"{key:>13}: BLEU-4 {m['BLEU-4']:.1f}  CIDEr {m['CIDEr']:.1f}  grounding R@1 {m['grounding_R@1']:.1f}% "
              f"(references {m['reference_grounding_R@1']:.1f}%)  on {m['n']} images, {runs[key]['seconds']} s", flush=True)
    img, txt = runs['image prefix'], runs['text only']
    if quick:
        for r in runs.values(): assert r['n'] == 8 and all(0 <= r[k] <= 1000 for k in ('BLEU-4', 'CIDEr', 'grounding_R@1')), r
    res = finish({'benchmark': 'Stage 2 captioning: image prefix vs the same LLM without the image', 'data': name,
                  'llm': 'tiny random' if quick else 'smollm2-135m-instruct + LoRA r8', 'steps': steps, 'batch_size': batch_size,
                  'lr': lr, 'seed': seed, 'machine': machine_info(), 'seconds': round(time.perf_counter() - t0),
                  'runs': runs, 'gain': {k: round(img[k] - txt[k], 2) for k in ('BLEU-4', 'CIDEr', 'grounding_R@1')}})
    if not quick:
        path = Path(out or RESULTS/f'stage2_caption_{name}.json'); atomic_write_json(path, res); print(f'wrote {path}')
    return res
