"""QLoRA on real weights: SmolLM2-135M + LoRA trained through `run_vlm` with the LLM in bfloat16 (autocast over float32
weights), 8-bit (LLM.int8()) and 4-bit (NF4) through bitsandbytes, side by side on the same Stage 1 run and questions.

Each precision runs in its own process, so that its peak resident memory (VmHWM) is its own. Reports the median
optimizer-step time, the peak memory, the training loss over the steps (does it fall?) and the exact match on a few
test questions. On a CPU bitsandbytes dequantizes the weights for every matrix product, so the quantized runs are
slower, not faster: what they save is memory. Writes `bench/results/stage2_quant.json`.

    HF_HUB_OFFLINE=1 python bench/stage2_quant.py                 # 40 steps each, about 15 minutes on 2 cores
    HF_HUB_OFFLINE=1 python bench/stage2_quant.py --steps 300     # with --eval_items 400: the VQA comparison at full length
"""
from __future__ import annotations
import json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from fastcore.script import call_parse, store_true
from common import RESULTS, finish, machine_info, proc_kb

MODES = ('bf16', 'int8', 'nf4')

def child(mode:str, align:str, work:str, steps:int, eval_items:int) -> dict:
    "One precision: train through `run_vlm`, timing each optimizer step; the record as a dict."
    import torch
    import edgeglass.stage2 as s2
    from edgeglass.data import build_demo_data
    from edgeglass.train import Trainer, TrainConfig
    torch.set_num_threads(1)
    times, last = [], [None]
    def tick(tr):
        now = time.perf_counter()
        if last[0] is not None: times.append(now - last[0])
        last[0] = now
    class Timed(Trainer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw); self.callbacks = (*self.callbacks, tick)
    s2.Trainer = Timed   # run_vlm's own path, with a clock on every optimizer step
    cfg = s2.VLMRunConfig(train=TrainConfig(epochs=100, batch_size=16, lr=3e-3, weight_decay=0.0, drop_last=False, max_steps=steps,
                                            warmup_steps=min(10, steps), checkpoint_every=steps, log_every=1),
                          max_eval_items=eval_items, shuffled_control=False, bf16=mode == 'bf16')
    cfg = cfg.replace(vlm=cfg.vlm.replace(decoder=cfg.vlm.decoder.replace(load_in_4bit=mode == 'nf4', load_in_8bit=mode == 'int8')))
    t0 = time.perf_counter()
    run = s2.run_vlm(build_demo_data(n_train=600, n_test=200), align, Path(work)/mode, cfg, progress=False)
    losses = [json.loads(l)['loss'] for l in (run/'metrics.jsonl').read_text().splitlines() if json.loads(l)['kind'] == 'train']
    m = json.loads((run/'metrics.json').read_text())['vqa']
    k = max(1, len(losses) // 5)
    return {'mode': mode, 'step_seconds_median': round(statistics.median(times[1:] or times), 2), 'peak_rss_mib': round(proc_kb('VmHWM') / 1024),
            'loss_first': round(statistics.mean(losses[:k]), 3), 'loss_last': round(statistics.mean(losses[-k:]), 3), 'losses': losses,
            'exact_match': m['exact_match'], 'by_kind': {a: round(b['exact_match'], 1) for a, b in m['by_kind'].items()}, 'n': m['n'],
            'seconds': round(time.perf_counter() - t0)}

@call_parse
def main(steps:int=40, # optimizer steps per precision (batches of 16 questions)
         eval_items:int=64, # test questions answered after training
         modes:str='bf16,int8,nf4', # which precisions
         out:str=None, # the JSON (default bench/results/stage2_quant.json)
         work:str=None, # where the runs go (default: a temporary folder)
         one:str=None, # internal: 'MODE,ALIGN,WORK' runs one precision in this process and prints its record
        ):
    "Train SmolLM2 + LoRA in each precision through run_vlm; step time, peak memory, loss, exact match."
    if one:
        mode, align, wk = one.split(',', 2)
        print('RESULT ' + json.dumps(child(mode, align, wk, steps, eval_items)), flush=True); return
    from edgeglass.data import build_demo_data
    from edgeglass.stage1 import run_align
    from stage2_vqa import stage1_config
    work = Path(work or tempfile.mkdtemp(prefix='edgeglass-quant-'))
    align = work/'align'
    if not (align/'model').is_dir(): run_align(build_demo_data(n_train=600, n_test=200), align, stage1_config('perceiver', 16, 0), progress=False)
    recs = []
    for mode in modes.split(','):
        r = subprocess.run([sys.executable, __file__, '--steps', str(steps), '--eval_items', str(eval_items), '--one', f'{mode},{align},{work}'],
                           capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
        line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
        if r.returncode or not line: raise SystemExit(f'{mode}: failed\n{r.stderr[-3000:]}')
        rec = json.loads(line[0][7:]); recs.append(rec)
        print(f"{mode:>5}: {rec['step_seconds_median']:.2f} s/step, peak {rec['peak_rss_mib']} MiB, loss {rec['loss_first']:.2f} -> {rec['loss_last']:.2f}, "
              f"exact match {rec['exact_match']:.1f} on {rec['n']} ({rec['seconds']} s)", flush=True)
    base = next((r for r in recs if r['mode'] == 'bf16'), recs[0])
    res = finish({'benchmark': 'Stage 2 QLoRA on the CPU: SmolLM2-135M + LoRA r8 through run_vlm in bf16, 8-bit and 4-bit',
                  'steps': steps, 'batch_size': 16, 'eval_items': eval_items, 'threads': 1, 'machine': machine_info(), 'runs': recs,
                  'vs_bf16': {r['mode']: {'step_time': round(r['step_seconds_median'] / base['step_seconds_median'], 2),
                                          'peak_memory': round(r['peak_rss_mib'] / base['peak_rss_mib'], 2)} for r in recs}})
    path = Path(out or RESULTS/'stage2_quant.json')
    from edgeglass.utils import atomic_write_json
    atomic_write_json(path, res); print(f'wrote {path}')
