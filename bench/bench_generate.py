"""Prefix generation speed: `QwenDecoder.generate` vs HF `generate(inputs_embeds=...)` vs recomputing without a KV cache.

Run: `HF_HUB_OFFLINE=1 python bench/bench_generate.py` (SmolLM2-135M-Instruct when the offline package is
installed, else the tiny random Qwen2). Prints a table and writes `bench/results/generate.json`.
A benchmark, not a test: the three paths must produce the same greedy tokens, the timings are what it reports.
"""
from __future__ import annotations
import os, platform, statistics, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from fastcore.script import call_parse

from edgeglass.decoders.qwen import QwenDecoder, QwenDecoderConfig, greedy_without_cache
from edgeglass.utils import atomic_write_json
from edgeglass.zoo import available
from common import finish, machine_info

def _decoder(model:str) -> tuple[QwenDecoder, str]:
    "`model` (a zoo name, folder or hub id) when it loads, else the tiny random Qwen2."
    if model != 'tiny' and (model in available() or '/' in model or Path(model).exists()):
        try: return QwenDecoder(QwenDecoderConfig(model=model)).eval(), model
        except Exception as e: print(f'could not load {model} ({type(e).__name__}: {str(e)[:200]}); using the tiny random Qwen2')
    return QwenDecoder(QwenDecoderConfig.tiny()).eval(), 'tiny-qwen2'

def _time(paths:dict, repeats:int) -> dict:
    "Per path: (fastest, median) wall time over `repeats` rounds after a warm-up, and its last output."
    outs = {k: f() for k, f in paths.items()}  # warm-up
    times = {k: [] for k in paths}
    for _ in range(repeats):  # interleaved rounds, so that load from other processes hits every path alike
        for k, f in paths.items():
            t = time.perf_counter(); outs[k] = f(); times[k].append(time.perf_counter() - t)
    return {k: (min(ts), statistics.median(ts), outs[k]) for k, ts in times.items()}

@call_parse
def main(model:str='smollm2-135m-instruct', # zoo name, folder or hub id; 'tiny' (or one that fails to load): the tiny random Qwen2
         prefix_len:int=16, # P: prefix embeddings (e.g. image latents)
         prompt_len:int=32, # N: prompt tokens
         new_tokens:int=32, # T: tokens generated (greedy, no early stop)
         batch:int=1, # B
         repeats:int=5, # timed rounds (each runs every path once); fastest and median reported
         threads:int=0, # torch CPU threads; 0 keeps torch's default (1 is steadier on a busy machine)
         out:str='bench/results/generate.json', # where the JSON goes
        ):
    "Time the three ways of generating after a prefix and write the results."
    if threads: torch.set_num_threads(threads)
    torch.manual_seed(0)
    dec, name = _decoder(model)
    vocab = dec.llm.get_input_embeddings().num_embeddings
    ids = torch.randint(0, vocab, (batch, prompt_len))
    prefix = torch.randn(batch, prefix_len, dec.hidden_size) * dec.embed_tokens(ids).std()
    kw = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    embeds = torch.cat([prefix, dec.embed_tokens(ids)], 1).detach()
    paths = {
        'edgeglass QwenDecoder.generate (KV cache)': lambda: dec.generate(ids, prefix_embeds=prefix, **kw),
        'HF generate(inputs_embeds=...) (KV cache)': lambda: dec.llm.generate(inputs_embeds=embeds, **kw),
        'full recompute each step (no cache)': lambda: greedy_without_cache(dec, ids, prefix, new_tokens)[0],
    }
    res = _time(paths, repeats)
    toks = [o for *_, o in res.values()]
    same = all(torch.equal(toks[0], t) for t in toks[1:])
    best, median = res['edgeglass QwenDecoder.generate (KV cache)'][:2]
    rows = [{'path': k, 'fastest_s': round(lo, 4), 'median_s': round(med, 4), 'ms_per_token': round(1000 * lo / new_tokens, 2),
             'fastest_vs_edgeglass': round(lo / best, 3), 'median_vs_edgeglass': round(med / median, 3)}
            for k, (lo, med, _) in res.items()]
    print(f'{name}: B={batch} P={prefix_len} N={prompt_len} T={new_tokens}, {torch.get_num_threads()} threads, {repeats} rounds')
    print(f'{"path":45s} {"fastest s":>10s} {"ms/token":>9s} {"x edgeglass":>12s} {"median x":>9s}')
    for r in rows:
        print(f'{r["path"]:45s} {r["fastest_s"]:10.3f} {r["ms_per_token"]:9.1f} {r["fastest_vs_edgeglass"]:12.2f} {r["median_vs_edgeglass"]:9.2f}')
    print('same greedy tokens on all three paths:', same)
    atomic_write_json(Path(out), finish({
        'benchmark': 'prefix generation: KV cache vs recomputing, and vs HF generate(inputs_embeds=...)', 'machine': machine_info(),
        'model': name, 'batch': batch, 'prefix_len': prefix_len, 'prompt_len': prompt_len, 'new_tokens': new_tokens,
        'repeats': repeats, 'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'same_tokens': same, 'results': rows}))
    if not same: raise SystemExit('the three paths disagree on the greedy tokens')
