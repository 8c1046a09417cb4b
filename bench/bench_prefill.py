"""LLM prefill latency: 64 Perceiver latents as the prefix vs the backbone's full token grid.

Run: `HF_HUB_OFFLINE=1 python bench/bench_prefill.py` (SmolLM2-135M-Instruct from the offline zoo, on the CPU).

Prefill is the forward pass over the whole input before the first new token: the prefix embeddings and a
short prompt, no generation (`use_cache=True` so the KV cache is built, as `generate` does, and
`logits_to_keep=1`: only the last position's logits, as `generate` asks for). The prefix is what Stage 2 puts
in front of the prompt: 64 Perceiver latents (edgeglass), or the full grid a LLaVA-style model would pass:
577 tokens for CLIP ViT-L/14-336 (24 x 24 patches + CLS) or 1500 frames for the Whisper encoder (30 s).
The prefix values are random (with the spread of the LLM's token embeddings): the cost of a forward pass
does not depend on them. Paths run in interleaved rounds (best and median reported), so load from other
processes hits each alike. Writes `bench/results/prefill.json`.
"""
from __future__ import annotations
import os, statistics, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from fastcore.script import Param, call_parse

from common import finish, machine_info
from edgeglass.utils import atomic_write_json

PREFIXES = {0: 'prompt only (no prefix)', 64: '64 Perceiver latents (edgeglass)', 577: 'CLIP ViT-L/14-336 grid (577 tokens)',
            1500: 'Whisper encoder frames (1500)'}

def load_llm(model:str):
    "The causal LM `model` (zoo name, folder or hub id) in float32, eval mode; and its name."
    from transformers import AutoModelForCausalLM
    if model == 'tiny':
        from edgeglass.decoders.qwen import QwenDecoderConfig, load_llm as random_llm
        return random_llm(QwenDecoderConfig.tiny()).eval(), 'tiny random Qwen2 (64 wide)'
    from edgeglass.zoo import resolve
    return AutoModelForCausalLM.from_pretrained(resolve(model), dtype=torch.float32).eval(), model

@torch.no_grad()
def prefill(llm, embeds:torch.Tensor):
    "One prefill: the forward pass over `embeds` (b, n, h) that builds the KV cache; last-position logits only."
    return llm(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long), use_cache=True, logits_to_keep=1)

@call_parse
def main(model:str='smollm2-135m-instruct', # zoo name, folder or hub id; 'tiny': a random 2-layer Qwen2 (for a quick check)
         prefixes:Param('prefix lengths to time (0: prompt only)', int, nargs='+')=[0, 64, 577, 1500],
         prompt_len:int=16, # prompt tokens after the prefix (a short question)
         batch:int=1, # sequences per forward pass
         repeats:int=5, # interleaved timed rounds (after a warm-up)
         threads:int=1, # torch CPU threads (1 is steadier on a shared machine; 0 keeps torch's default)
         out:str='bench/results/prefill.json', # where the JSON goes
        ):
    "Time the prefill for each prefix length, side by side, and write the ratios against 64 latents."
    if threads: torch.set_num_threads(threads)
    torch.manual_seed(0)
    llm, name = load_llm(model)
    emb = llm.get_input_embeddings()
    ids = torch.randint(0, emb.num_embeddings, (batch, prompt_len))
    with torch.no_grad(): prompt = emb(ids)                                       # (b, n, h)
    inputs = {p: torch.cat([torch.randn(batch, p, prompt.shape[-1]) * prompt.std(), prompt], 1) for p in prefixes}  # (b, p + n, h)
    for x in inputs.values(): prefill(llm, x)                                      # warm-up
    times = {p: [] for p in prefixes}
    for _ in range(repeats):
        for p, x in inputs.items():
            t = time.perf_counter(); prefill(llm, x); times[p].append(time.perf_counter() - t)
    ref = min(times[64]) if 64 in times else None
    rows = [{'prefix': PREFIXES.get(p, f'{p} prefix tokens'), 'prefix_len': p, 'positions': p + prompt_len,
             'best_ms': round(1000 * min(ts), 1), 'median_ms': round(1000 * statistics.median(ts), 1),
             'vs_64_latents': None if ref is None else round(min(ts) / ref, 2)} for p, ts in times.items()]
    print(f'{name}: prefill of prefix + {prompt_len}-token prompt, batch {batch}, {torch.get_num_threads()} threads, best of {repeats} rounds')
    print(f'{"prefix":<40}{"positions":>10}{"best ms":>10}{"median ms":>11}{"x 64 latents":>14}')
    for r in rows:
        print(f'{r["prefix"]:<40}{r["positions"]:>10}{r["best_ms"]:>10.1f}{r["median_ms"]:>11.1f}'
              + (f'{r["vs_64_latents"]:>13.2f}x' if r['vs_64_latents'] is not None else ''))
    cfg = llm.config
    res = {'benchmark': 'LLM prefill: 64 Perceiver latents vs the full token grid', 'model': name,
           'llm': {'hidden_size': cfg.hidden_size, 'layers': cfg.num_hidden_layers, 'heads': cfg.num_attention_heads},
           'prompt_len': prompt_len, 'batch': batch, 'repeats': repeats, 'machine': machine_info(), 'results': rows}
    atomic_write_json(Path(out), finish(res))
    print(f'wrote {out}')
