"""Peak memory per rank of one training step of the contrastive loss, against the global batch: gather-all (the
default), `local_loss`, and the SigLIP sigmoid loss with its ring exchange.

Each (loss, global batch) runs in fresh `gloo` processes on the CPU (`--world` ranks, one thread each): the
features of a rank's share are made, then each rank resets its peak-RSS counter (`/proc/self/clear_refs`),
runs one forward and backward of `AlignmentLoss` on its (b, d) share, and reports the growth of its peak RSS
over its RSS before the step; the table gives the largest over the ranks, beside what the logits alone would
take, and the ratio to gather-all. Step time (median of `--repeats` steps after the measured one) comes with it.
Writes `bench/results/losses.json`.

    python bench/bench_losses.py                          # 4 ranks, global batch 1024 to 8192, width 512
    python bench/bench_losses.py --world 2 --batches 512 1024 --quick

Matryoshka widths are off (`mrl_dims=()`): each width adds one more set of logits of the same size, so the
ratios hold with them.
"""
from __future__ import annotations
import os, statistics, sys, tempfile, time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fastcore.script import Param, call_parse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, finish, machine_info, proc_kb
from edgeglass.losses import AlignmentLoss
from edgeglass.utils import atomic_write_json

LOSSES = {'gather-all': {}, 'local': {'local_loss': True}, 'siglip': {'kind': 'siglip', 'temperature': 0.1}}

def logit_elements(name:str, n:int, world:int) -> int:
    "Logit entries one rank holds for the backward pass: n² gathered, 2·b·n local, b² per ring step (W steps) for SigLIP."
    b = n // world
    return {'gather-all': n * n, 'local': 2 * b * n, 'siglip': world * b * b}[name]

def _rank(rank:int, world:int, init:str, out:str, name:str, n:int, dim:int, repeats:int):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init}', rank=rank, world_size=world)
    try:
        loss = AlignmentLoss(mrl_dims=(), **LOSSES[name])
        g = torch.Generator().manual_seed(rank)
        a, b = (torch.randn(n // world, dim, generator=g).requires_grad_() for _ in range(2))
        def step():
            loss(a, b).loss.backward(); a.grad = b.grad = None
        dist.barrier()
        Path('/proc/self/clear_refs').write_text('5')                       # reset the peak RSS to the RSS now
        before = proc_kb('VmRSS')
        step()
        peak = proc_kb('VmHWM') - before
        times = []
        for _ in range(repeats):
            dist.barrier(); t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
        Path(out, f'{rank}.txt').write_text(f'{peak} {statistics.median(times)}')
    finally: dist.destroy_process_group()

def measure(name:str, n:int, world:int, dim:int, repeats:int) -> dict:
    "Peak RSS growth (largest rank) and median step time of one loss at one global batch."
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_rank, args=(world, f'{d}/init', d, name, n, dim, repeats), nprocs=world, join=True)
        rows = [Path(d, f'{r}.txt').read_text().split() for r in range(world)]
    peak_kb = max(int(r[0]) for r in rows)
    return {'loss': name, 'global_batch': n, 'per_rank_batch': n // world, 'peak_mib': round(peak_kb / 1024, 1),
            'logits_mib': round(logit_elements(name, n, world) * 4 / 2**20, 1), 'step_s': round(max(float(r[1]) for r in rows), 3)}

@call_parse
def main(world:int=4, # processes (gloo ranks on the CPU)
         batches:Param('global batch sizes', int, nargs='+')=[1024, 2048, 4096, 8192],
         dim:int=512, # embedding width
         repeats:int=3, # timed steps after the measured one
         quick:bool=False, # CI: do not write bench/results
        ):
    "Print peak memory per rank for each loss and global batch, with the ratio to gather-all; write the JSON."
    rows = []
    print(f'{"global batch":>12} {"loss":>10} {"peak MiB/rank":>14} {"logits MiB":>11} {"vs gather-all":>14} {"step s":>8}')
    for n in batches:
        if n % world: raise SystemExit(f'--batches: {n} is not a multiple of --world {world}')
        base = None
        for name in LOSSES:
            r = measure(name, n, world, dim, repeats)
            base = base or r['peak_mib']
            r['ratio_to_gather_all'] = round(r['peak_mib'] / base, 3)
            rows.append(r)
            print(f'{n:>12} {name:>10} {r["peak_mib"]:>14.1f} {r["logits_mib"]:>11.1f} {r["ratio_to_gather_all"]:>14.2f} {r["step_s"]:>8.3f}', flush=True)
    res = finish({'machine': machine_info(world=world, dim=dim), 'rows': rows})
    if not quick:
        atomic_write_json(RESULTS/'losses.json', res)
        print(f'wrote {RESULTS/"losses.json"}')
    return res
