"""Stage 2 VQA on easy-vqa: SmolLM2-135M + LoRA reading a Stage 1 run's frozen aligned image tokens, by variant and seed.

Variants (each through the library's own path, `run_align` then `run_vlm` or `run_trm_vqa`, as the CLI runs them):

- `perceiver`: the seed's flow, the default. Stage 1 with a Perceiver vision head
  (`MultimodalAlignmentConfig.offline(adapter='perceiver')`), its aligned latents the prefix.
- `grid`: the earlier variant. Stage 1 with MLP heads, its 7x7 grid of projected tokens average-pooled to 2x2.
- `text`: the same LLM trained without the image (the prior of the questions' words).
- `trm`: the TRM decoder of notebook 17c trained from scratch on the `perceiver` Stage 1 tokens.
- `nf4`, `int8`: `perceiver` with the LLM loaded in 4-bit (NF4) or 8-bit through bitsandbytes (QLoRA).

Every image run also answers with each test image's prefix swapped for another test image's (the shuffled control).
Each run writes `bench/results/stage2_vqa/<name>.json` (`run_name`: `<variant>[-answer-only][-balanced]-s<seed>`,
`-answer-only` for an image run without `--describe`, `-balanced` with `--balance`; `--out` to change the folder), so several
processes can run variants side by side, and copies each run's `predictions.jsonl` to `predictions/`; notebook 17d reads them.

    HF_HUB_OFFLINE=1 python bench/stage2_vqa.py --variants perceiver,text --seeds 0,1,2   # about 25 minutes per SmolLM2 run on a core
    HF_HUB_OFFLINE=1 python bench/stage2_vqa.py --variants perceiver --describe --balance  # balanced yes/no answers (VLMRunConfig.balance_answers)
    HF_HUB_OFFLINE=1 python bench/stage2_vqa.py --variants perceiver --describe --balance --check  # and label checks before the answer
    HF_HUB_OFFLINE=1 python bench/stage2_vqa.py --quick                                  # CI: tiny random models, a few steps, nothing written

`--lora all` puts LoRA on every linear layer of SmolLM2's blocks (the MLPs too) instead of the attention projections;
`--work DIR --resume` continues runs a stopped invocation left in DIR.
"""
from __future__ import annotations
import json, os, shutil, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from fastcore.script import call_parse, store_true

from edgeglass.data import build_demo_data
from edgeglass.cache import FeatureCache
from edgeglass.models.alignment import MultimodalAlignmentConfig
from edgeglass.decoders.qwen import QwenDecoderConfig
from edgeglass.models.vlm import QwenVLMConfig
from edgeglass.train import TrainConfig
from edgeglass.stage1 import RunConfig, run_align
from edgeglass.stage2 import VLMRunConfig, run_vlm
from edgeglass.stage2_trm import TRMVQAConfig, run_trm_vqa
from edgeglass.utils import atomic_write_json, load_safetensors
from common import RESULTS, finish, machine_info, torch_threads

VARIANTS = ('perceiver', 'grid', 'text', 'trm', 'nf4', 'int8')

def stage1_config(head:str, latents:int, seed:int) -> RunConfig:
    "The Stage 1 run the prefix is read through: the offline encoders with a Perceiver ('perceiver') or MLP ('mlp') vision head."
    return RunConfig(model=MultimodalAlignmentConfig.offline(adapter=head, latents=latents, audio=None),
                     train=TrainConfig(epochs=8, batch_size=64, lr=2e-3, log_every=20, seed=seed))

LORA_TARGETS = {'attention': QwenDecoderConfig.lora_targets,   # the library's default: q, k, v, o
                'all': ('q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj')}   # every linear layer of a block

def run_name(variant:str, seed:int, describe:bool, balance:bool, lora:str='attention', check:bool=False) -> str:
    "A run's name: the variant, `-answer-only` for an image run without the description first, `-balanced` for balanced training answers, `-check` for label checks, `-lora-all` for LoRA on every linear layer, the seed."
    llm, llm_image = variant != 'trm', variant not in ('text', 'trm')
    return (f"{variant}{'-answer-only' if llm_image and not describe else ''}{'-balanced' if balance and llm else ''}"
            f"{'-check' if check and llm else ''}{'-lora-all' if lora == 'all' and llm else ''}-s{seed}")

def vlm_config(variant:str, steps:int, warmup:int, lr:float, eval_items:int, seed:int, quick:bool, describe:bool=False, balance:bool=False,
               lora:str='attention', check:bool=False) -> VLMRunConfig:
    "One SmolLM2 run of `variant`: the library's VQA defaults with this schedule."
    train = TrainConfig(epochs=100, batch_size=16, lr=lr, weight_decay=0.0, drop_last=False, max_steps=steps,
                        warmup_steps=min(10, steps), checkpoint_every=steps, log_every=10, seed=seed)
    kw = dict(train=train, use_image=variant != 'text', max_eval_items=eval_items, proj_warmup_steps=warmup, describe_first=describe,
              balance_answers=balance, check_labels=check)
    if quick: return VLMRunConfig.tiny(**kw, caption_max_new_tokens=4, vlm=QwenVLMConfig.tiny(max_new_tokens=3, prefix_pool=4 if variant == 'grid' else None))
    cfg = VLMRunConfig(**kw, bf16=variant not in ('nf4', 'int8'))
    dec = {'nf4': dict(load_in_4bit=True), 'int8': dict(load_in_8bit=True)}.get(variant, {})
    return cfg.replace(vlm=cfg.vlm.replace(prefix_pool=4 if variant == 'grid' else None,
                                           decoder=cfg.vlm.decoder.replace(lora_targets=LORA_TARGETS[lora], **dec)))

def kinds(m:dict) -> dict: return {k: round(v['exact_match'], 1) for k, v in m['by_kind'].items()}

def one_run(variant:str, seed:int, folder:Path, work:Path, cache, a) -> dict:
    "Train and measure one (variant, seed); the record written to the results folder."
    head = 'mlp' if variant == 'grid' else 'perceiver'
    t0 = time.perf_counter()
    align = work/f'align-{head}-s{seed}'
    if not (align/'model').is_dir():
        if a.quick:
            from edgeglass.testing import tiny_alignment_model
            tiny_alignment_model(audio=None).save_pretrained(align/'model')
        else: run_align(folder, align, stage1_config(head, a.latents, seed), cache=cache, progress=False)
    run = work/run_name(variant, seed, a.describe, a.balance, a.lora, a.check)
    if variant == 'trm':
        cfg = TRMVQAConfig.tiny(max_eval_items=a.eval_items) if a.quick else TRMVQAConfig(max_eval_items=a.eval_items)
        cfg = cfg.replace(train=cfg.train.replace(seed=seed))
        run_trm_vqa(folder, align, run, cfg, cache=cache)
        m = json.loads((run/'metrics.json').read_text())
        rec = {'vqa': m['vqa'], 'params_trained': m['params']}
    else:
        cfg = vlm_config(variant, a.steps, a.warmup, a.lr, a.eval_items, seed, a.quick, a.describe, a.balance, a.lora, a.check)
        run_vlm(folder, align, run, cfg, resume=a.resume and run.is_dir(), cache=cache, progress=False)
        m = json.loads((run/'metrics.json').read_text())
        rec = {'vqa': m['vqa'], 'params_trained': sum(v.numel() for v in load_safetensors(run/'model'/'trainable.safetensors').values())}
        if 'vqa_shuffled' in m: rec['vqa_shuffled'] = m['vqa_shuffled']
    preds = [json.loads(l) for l in (run/'predictions.jsonl').read_text().splitlines()] if (run/'predictions.jsonl').is_file() else []
    rel = lambda p: str(Path(p).relative_to(folder)) if str(p).startswith(str(folder)) else str(p)
    rec['examples'] = [{'image': rel(p['image']), 'question': p['question'], 'answer': p['answer'], 'prediction': p['prediction'], **({'reply': p['reply']} if 'reply' in p else {})}
                       for p in preds[::max(1, len(preds) // 16)][:16]]
    rec['seconds'] = round(time.perf_counter() - t0)
    print(f"{variant:>9} seed {seed}: exact match {rec['vqa']['exact_match']:.1f} by kind {kinds(rec['vqa'])}"
          + (f"; shuffled image {kinds(rec['vqa_shuffled'])}" if 'vqa_shuffled' in rec else '') + f"; {rec['seconds']} s", flush=True)
    return rec

@call_parse
def main(variants:str='perceiver,text', # comma-separated, of perceiver, grid, text, trm, nf4, int8
         seeds:str='0', # comma-separated seeds; each (variant, seed) is one run and one JSON file
         steps:int=300, # LoRA steps per SmolLM2 run (batches of 16 questions)
         warmup:int=100, # steps of `vision_proj` alone on the demo's captions first (LLaVA's first stage); 0: none
         lr:float=3e-3, # learning rate of LoRA and the projection
         latents:int=16, # the Perceiver vision head's latents (the prefix length)
         describe:store_true=False, # SmolLM2 runs answer "<what the image shows>. Answer: <answer>" (VLMRunConfig.describe_first)
         balance:store_true=False, # SmolLM2 runs train on rows balanced so each question's answers are equally frequent (VLMRunConfig.balance_answers)
         check:store_true=False, # SmolLM2 runs check each label value a question names before answering ("blue: no"; VLMRunConfig.check_labels)
         lora:str='attention', # SmolLM2's LoRA targets: 'attention' (q, k, v, o: the default) or 'all' (also gate, up, down)
         eval_items:int=400, # test questions measured, spread over the test split
         quick:store_true=False, # CI: tiny random models, a few steps; nothing written to bench/results
         out:str=None, # the results folder (default bench/results/stage2_vqa)
         work:str=None, # where the runs go (default: a temporary folder)
         resume:store_true=False, # continue SmolLM2 runs already in --work from their newest checkpoint (a finished warm-up is kept)
        ):
    "Train and measure each variant for each seed; one JSON per run."
    import argparse
    a = argparse.Namespace(steps=3 if quick else steps, warmup=2 if quick else warmup, lr=lr, latents=latents, describe=describe, balance=balance, check=check, lora=lora,
                           eval_items=8 if quick else eval_items, quick=quick, resume=resume)
    vs, ss = [v.strip() for v in variants.split(',') if v.strip()], [int(s) for s in seeds.split(',')]
    if bad := [v for v in vs if v not in VARIANTS]: raise SystemExit(f'--variants: unknown {bad}; choose from {VARIANTS}')
    if lora not in LORA_TARGETS: raise SystemExit(f'--lora: expected one of {tuple(LORA_TARGETS)}, got {lora!r}')
    torch_threads()
    folder = build_demo_data(n_train=40 if quick else 600, n_test=12 if quick else 200)
    work = Path(work or tempfile.mkdtemp(prefix='edgeglass-vqa-'))
    cache = FeatureCache(work/'cache') if quick else None
    dest = Path(out or RESULTS/'stage2_vqa')
    recs = {}
    for seed in ss:
        for v in vs:
            rec = one_run(v, seed, folder, work, cache, a)
            recs[(v, seed)] = rec
            if quick: continue
            res = finish({'benchmark': 'Stage 2 VQA on easy-vqa', 'variant': v, 'seed': seed, 'llm': 'smollm2-135m-instruct + LoRA r8',
                          'steps': a.steps, 'proj_warmup_steps': a.warmup, 'describe_first': describe and v not in ('trm',),
                          'balance_answers': balance and v != 'trm', 'check_labels': check and v != 'trm', 'lora_targets': list(LORA_TARGETS[lora]) if v != 'trm' else None, 'lr': lr,
                          'latents': latents, 'machine': machine_info(), **rec})
            name = run_name(v, seed, describe, balance, lora, check)
            atomic_write_json(dest/f'{name}.json', res); print(f'wrote {dest}/{name}.json', flush=True)
            if (pj := work/name/'predictions.jsonl').is_file():   # every answer, for analyses beyond the metrics
                (dest/'predictions').mkdir(parents=True, exist_ok=True); shutil.copyfile(pj, dest/'predictions'/f'{name}.jsonl')
    if quick:
        for (v, _), r in recs.items():
            assert r['vqa']['n'] == 8 and set(r['vqa']['by_kind']) <= {'shape', 'color', 'yes/no'}, r
            assert ('vqa_shuffled' in r) == (v not in ('text', 'trm')), r
    return recs
