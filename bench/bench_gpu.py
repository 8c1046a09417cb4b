"""GPU benchmark at production widths with random weights (no download): run it through `bash bench/gpu.sh`.

The models have the real sizes of the default edgeglass stack, built from their configs with random
weights, directly on the GPU, in bfloat16:

- CLIP ViT-L/14-336 vision tower (1024 wide, 24 layers, 577 tokens per image), CLIP-L's text tower
  (768 wide, 12 layers; the character tokenizer stands in for CLIP's BPE), the Whisper-large-v3 encoder
  (1280 wide, 32 layers, 128 mel bins);
- Qwen2.5-3B (`Qwen2Config`: hidden 2048, 36 layers, 16 heads, 2 KV heads, MLP 11008, vocabulary 151936).

Sections, each timed after a warm-up, with `torch.cuda.synchronize()` around the timed steps and the peak
`torch.cuda.max_memory_allocated()` of the section:

1. `align`: Stage 1 training steps/s: `MultimodalAlignmentModel` with the three frozen backbones (bf16) and
   the default heads (Perceiver on vision and audio, MLP on text), trained under bf16 autocast with the
   tri-modal `AlignmentLoss`, from raw inputs (the backbones run every step, as without a feature cache);
   also the same step from precomputed backbone features (the feature-cache path: heads and loss only).
2. `vlm`: Stage 2 training step time: `QwenVLM` (64 vision tokens of width 512 as prefix + prompt and
   answer tokens, loss on the answer), with LoRA adapters (base frozen) and with full fine-tuning.
3. `trainer`: the same Stage 1 heads trained through `edgeglass.train.Trainer` from precomputed features, with
   `TrainConfig(mixed_precision='bf16')` (Accelerate's autocast) and with `'no'`: steps/s, first and last loss
   of each, and the peak memory; the check that mixed precision runs through the trainer on a GPU.
4. `generate`: greedy tokens/s with the KV cache (`QwenDecoder.generate` after the 64-token prefix), batch 1
   and batch 8, plus the prefill time of 64 latents vs the 577-token CLIP grid vs 1500 Whisper frames.

`--smoke` runs the same code on the CPU with the tiny configs (float32, a couple of steps) to catch bugs
before GPU time is spent; its result goes to a temporary file unless `--out` is given. A time budget
(`--budget_s`) skips the sections that would not fit; the JSON is written after every section.
"""
from __future__ import annotations
import gc, os, sys, tempfile, time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
import torch
from fastcore.script import call_parse, store_true

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import finish, machine_info
from edgeglass.utils import atomic_write_json, seed_everything
from edgeglass.encoders.text import CHAR_VOCAB
from edgeglass.models.alignment import MultimodalAlignmentConfig, MultimodalAlignmentModel
from edgeglass.decoders.qwen import QwenDecoder, QwenDecoderConfig
from edgeglass.models.vlm import QwenVLM, QwenVLMConfig

CLIP_VISION_L336 = dict(model_type='clip_vision_model', hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                        num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)
CLIP_TEXT_L = dict(model_type='clip_text_model', vocab_size=len(CHAR_VOCAB), hidden_size=768, intermediate_size=3072,
                   num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77, projection_dim=768,
                   pad_token_id=0, bos_token_id=2, eos_token_id=3)
WHISPER_LARGE_V3 = dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120, decoder_layers=1,
                        decoder_attention_heads=20, decoder_ffn_dim=5120, num_mel_bins=128, max_source_positions=1500, vocab_size=51866)
QWEN25_3B = dict(model_type='qwen2', vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                 num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1e6,
                 rms_norm_eps=1e-6, tie_word_embeddings=True)

class Bench:
    "Device, precision, the step counts and the time budget; timing and peak-memory helpers."
    def __init__(self, smoke:bool, device:str, steps:int, warmup:int, budget_s:float, dtype:str|None=None):
        self.smoke, self.device, self.steps, self.warmup, self.budget_s = smoke, torch.device(device), steps, warmup, budget_s
        self.cuda = self.device.type == 'cuda'
        self.dtype = getattr(torch, dtype) if dtype else torch.float32 if smoke else torch.bfloat16
        self.t0 = time.perf_counter()

    def autocast(self):
        "bf16 autocast on the GPU (trainable heads keep fp32 weights); nothing in the float32 smoke run."
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.dtype == torch.bfloat16 else nullcontext()

    def sync(self):
        if self.cuda: torch.cuda.synchronize(self.device)

    def reset_peak(self):
        gc.collect()
        if self.cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gb(self) -> float|None:
        return round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2) if self.cuda else None

    def time_steps(self, fn, steps:int|None=None, warmup:int|None=None) -> float:
        "Seconds per call of `fn`, after `warmup` untimed calls."
        for _ in range(self.warmup if warmup is None else warmup): fn()
        self.sync(); t = time.perf_counter()
        n = self.steps if steps is None else steps
        for _ in range(n): fn()
        self.sync()
        return (time.perf_counter() - t) / n

    def left(self) -> float: return self.budget_s - (time.perf_counter() - self.t0)

    def build(self, f):
        "Build a model with its weights created on the device (no CPU copy); seconds taken and the model."
        t = time.perf_counter()
        with torch.device(self.device): m = f()
        self.sync()
        return time.perf_counter() - t, m

def alignment_config(smoke:bool) -> MultimodalAlignmentConfig:
    "The default edgeglass stack (heads, loss) with random production backbones (tiny ones for the smoke run)."
    if smoke: return MultimodalAlignmentConfig.tiny()
    d = MultimodalAlignmentConfig().to_dict()
    d['vision'].update(backbone='random-clip-vit-l-14-336', backbone_config=CLIP_VISION_L336)
    d['text'].update(backbone='random-clip-text-l', backbone_config=CLIP_TEXT_L, tokenizer='char', max_length=77)
    d['audio'].update(backbone='random-whisper-large-v3', backbone_config=WHISPER_LARGE_V3)
    return MultimodalAlignmentConfig.from_dict(d)

def alignment_inputs(model, batch:int, audio_s:float, device) -> dict:
    "Random pixels, captions and log-mel features of the model's sizes (`audio_s` seconds of real audio per clip)."
    vis, aud = model.encoders['vision'].backbone.config, model.encoders['audio'].backbone.config
    frames = min(int(100 * audio_s), 2 * aud.max_source_positions)            # 100 mel frames per second
    words = ['red', 'green', 'blue', 'circle', 'square', 'triangle', 'small', 'large', 'a', 'the', 'on', 'left']
    g = torch.Generator().manual_seed(0)
    texts = [' '.join(words[i] for i in torch.randint(0, len(words), (8,), generator=g).tolist()) for _ in range(batch)]
    return {'images': torch.randn(batch, 3, vis.image_size, vis.image_size, device=device), 'texts': texts,
            'audio': torch.randn(batch, aud.num_mel_bins, frames, device=device)}

def bench_align(b:Bench, batch:int, audio_s:float) -> dict:
    "Stage 1 training steps/s from raw inputs (frozen backbones run each step) and from cached features."
    b.reset_peak()
    seed_everything(0)
    build_s, model = b.build(lambda: MultimodalAlignmentModel(alignment_config(b.smoke)))
    for enc in model.encoders.values(): enc.backbone.to(b.dtype)
    model.train()
    x = alignment_inputs(model, batch, audio_s, b.device)
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)
    def step(features=None):
        with b.autocast(): out = model.forward_features(features) if features is not None else model(**x)
        out.loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    raw_s = b.time_steps(step)
    with torch.no_grad(), b.autocast():
        feats = {m: model.extract(m, v) for m, v in (('vision', x['images']), ('text', x['texts']), ('audio', x['audio']))}
    cached_s = b.time_steps(lambda: step(feats))
    params = lambda ps: round(sum(p.numel() for p in ps) / 1e6, 1)
    res = {'batch': batch, 'audio_seconds': audio_s, 'build_s': round(build_s, 1),
           'backbone_params_m': {m: params(e.backbone.parameters()) for m, e in model.encoders.items()},
           'trainable_params_m': params(model.trainable_parameters()),
           'tokens_per_item': {m: int(f.sequence.shape[1]) for m, f in feats.items()},
           'raw_step_s': round(raw_s, 4), 'raw_steps_per_s': round(1 / raw_s, 2), 'raw_items_per_s': round(batch / raw_s, 1),
           'cached_step_s': round(cached_s, 4), 'cached_steps_per_s': round(1 / cached_s, 2), 'peak_gpu_gb': b.peak_gb()}
    del model, opt, feats, x
    return res

class _Features(torch.utils.data.Dataset):
    "Rows of precomputed backbone features in the shape the trainer reads (`modalities`, `collate`)."
    def __init__(self, feats:dict, repeat:int):
        from edgeglass.cache import split_features
        self.items, self.repeat = {m: split_features(f) for m, f in feats.items()}, repeat
    @property
    def modalities(self): return tuple(self.items)
    def __len__(self): return self.repeat * len(next(iter(self.items.values())))
    def __getitem__(self, i):
        return {m: v[i % len(v)] for m, v in self.items.items()}
    def collate(self, rows):
        from edgeglass.cache import collate
        return {m: collate([r[m] for r in rows]) for m in self.modalities}

def bench_trainer(b:Bench, batch:int, audio_s:float) -> dict:
    "Stage 1 heads through `Trainer` from features, bf16 mixed precision against full precision: steps/s, losses, peak memory."
    from edgeglass.train import TrainConfig, Trainer
    seed_everything(0)
    model = MultimodalAlignmentModel(alignment_config(b.smoke))
    for enc in model.encoders.values(): enc.backbone.to(b.dtype)
    model.to(b.device)
    x = alignment_inputs(model, batch, audio_s, b.device)
    with torch.no_grad(), b.autocast():
        feats = {m: model.extract(m, v) for m, v in (('vision', x['images']), ('text', x['texts']), ('audio', x['audio']))}
    feats = {m: type(f)(*(t.float().cpu() if t is not None and t.is_floating_point() else (None if t is None else t.cpu())
                         for t in (f.sequence, f.mask, f.pooled))) for m, f in feats.items()}
    data, res = _Features(feats, repeat=b.steps + b.warmup), {'batch': batch}
    start = {k: v.clone() for k, v in model.weights_to_save().items()}
    for precision in ('bf16', 'no'):
        model.load_state_dict(start, strict=False)
        b.reset_peak()
        cfg = TrainConfig(epochs=1, batch_size=batch, lr=1e-4, warmup_steps=0, mixed_precision=precision,
                          checkpoint_every=10**9, log_every=1)
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter(); h = Trainer(model, data, cfg, d, progress=False).fit(); b.sync(); secs = time.perf_counter() - t
        res[precision] = {'steps': h.step, 'steps_per_s': round(h.step / secs, 2), 'first_loss': round(h.train[0]['loss'], 4),
                          'last_loss': round(h.train[-1]['loss'], 4), 'peak_gpu_gb': b.peak_gb()}
    del model, feats, data
    return res

def llm_config(b:Bench, **kw) -> QwenDecoderConfig:
    "Qwen2.5-3B's config with random weights (a tiny Qwen2 for the smoke run), in the run's dtype."
    dtype = str(b.dtype).replace('torch.', '')
    if b.smoke: return QwenDecoderConfig.tiny(torch_dtype=dtype, **kw)
    return QwenDecoderConfig(model=None, llm_config=QWEN25_3B, torch_dtype=dtype, **kw)

def vlm_batch(vocab:int, batch:int, prompt_len:int, answer_len:int, vision_dim:int, device) -> dict:
    "64 random vision tokens, random prompt + answer ids, labels on the answer only."
    ids = torch.randint(0, vocab, (batch, prompt_len + answer_len), device=device)
    labels = ids.clone(); labels[:, :prompt_len] = -100
    return {'vision_tokens': torch.randn(batch, 64, vision_dim, device=device), 'input_ids': ids,
            'attention_mask': torch.ones_like(ids), 'labels': labels}

def bench_vlm(b:Bench, llm, mode:str, batch:int, prompt_len:int, answer_len:int) -> dict:
    "One Stage 2 training step: LoRA adapters on a frozen LLM, or full fine-tuning of the LLM."
    b.reset_peak()
    cfg = QwenVLMConfig(decoder=llm_config(b, lora=mode == 'lora', freeze_llm=mode == 'lora'), vision_dim=512 if not b.smoke else 64,
                        num_prefix_tokens=64)
    with torch.device(b.device): vlm = QwenVLM(cfg, decoder=QwenDecoder(cfg.decoder, model=llm))
    vlm.train()
    x = vlm_batch(vlm.decoder.llm.get_input_embeddings().num_embeddings, batch, prompt_len, answer_len, cfg.vision_dim, b.device)
    trainable = [p for p in vlm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-5)
    def step():
        with b.autocast(): loss = vlm(**x).loss
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    s = b.time_steps(step)
    res = {'mode': mode, 'batch': batch, 'positions': 64 + prompt_len + answer_len, 'answer_tokens': answer_len,
           'trainable_params_m': round(sum(p.numel() for p in trainable) / 1e6, 1), 'step_s': round(s, 4),
           'tokens_per_s': round(batch * (64 + prompt_len + answer_len) / s, 0), 'peak_gpu_gb': b.peak_gb()}
    opt.zero_grad(set_to_none=True)
    if mode == 'lora': vlm.decoder.llm.unload()            # take the adapters out: the bare LLM again
    del vlm, opt, x
    return res

@torch.no_grad()
def bench_generate(b:Bench, llm, batches:list[int], prompt_len:int, new_tokens:int, prefixes:list[int]) -> dict:
    "Greedy KV-cache generation tokens/s after a 64-token prefix, and prefill time against the prefix length."
    b.reset_peak()
    llm.eval()
    dec = QwenDecoder(llm_config(b), model=llm)
    h, vocab = dec.hidden_size, dec.llm.get_input_embeddings().num_embeddings
    out = {'prompt_len': prompt_len, 'new_tokens': new_tokens, 'rows': [], 'prefill': []}
    for batch in batches:
        ids = torch.randint(0, vocab, (batch, prompt_len), device=b.device)
        prefix = 0.02 * torch.randn(batch, 64, h, device=b.device, dtype=b.dtype)
        kw = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, eos_token_id=None, pad_token_id=0)
        toks = dec.generate(ids, prefix_embeds=prefix, **kw)
        s = b.time_steps(lambda: dec.generate(ids, prefix_embeds=prefix, **kw), steps=2 if not b.smoke else 1, warmup=0)
        out['rows'].append({'batch': batch, 'new_tokens': int(toks.shape[1]), 'seconds': round(s, 3),
                            'tokens_per_s': round(batch * toks.shape[1] / s, 1), 'ms_per_step': round(1000 * s / toks.shape[1], 2)})
    for pb in ((1, 32) if not b.smoke else (1, 2)):   # batch 1 is kernel-launch bound on a big GPU; batch 32 shows the compute
        ids = torch.randint(0, vocab, (pb, 16), device=b.device)
        for p in prefixes:
            embeds = torch.cat([0.02 * torch.randn(pb, p, h, device=b.device, dtype=b.dtype), dec.embed_tokens(ids)], 1)
            s = b.time_steps(lambda: dec.llm(inputs_embeds=embeds, use_cache=True, logits_to_keep=1), steps=5 if not b.smoke else 1, warmup=2 if not b.smoke else 1)
            out['prefill'].append({'batch': pb, 'prefix_len': p, 'positions': p + 16, 'ms': round(1000 * s, 2)})
            del embeds
        ref = next((r['ms'] for r in out['prefill'] if r['prefix_len'] == 64 and r['batch'] == pb), None)
        for r in out['prefill']:
            if r['batch'] == pb: r['vs_64_latents'] = round(r['ms'] / ref, 2) if ref else None
    out['peak_gpu_gb'] = b.peak_gb()
    return out

def show(name:str, res:dict):
    "Print one section's result compactly."
    print(f'\n[{name}]', {k: v for k, v in res.items() if k not in ('rows', 'prefill')}, flush=True)
    for r in res.get('rows', []) + res.get('prefill', []): print('   ', r, flush=True)

@call_parse
def main(smoke:store_true=False, # tiny configs on the CPU, float32, 2 steps: a check of the code, not a benchmark
         device:str=None, # 'cuda' (default when available) or 'cpu'; the smoke run uses the CPU
         steps:int=None, # timed steps per training measurement (default: 10 on the GPU, 2 in the smoke run)
         warmup:int=None, # untimed steps before (default: 3 on the GPU, 1 in the smoke run)
         align_batch:int=None, # Stage 1 items per step (default 64 on the GPU, 4 in the smoke run)
         audio_s:float=10.0, # seconds of real audio per clip in Stage 1 (Whisper runs over the real length)
         vlm_batch_size:int=None, # Stage 2 rows per step (default 8 on the GPU, 2 in the smoke run)
         vlm_modes:str='lora,full', # Stage 2 modes to time, comma-separated
         new_tokens:int=None, # tokens generated per timed generation (default 128 on the GPU, 4 in the smoke run)
         budget_s:float=420, # skip sections that start after this many seconds (the script must end within 8 minutes)
         dtype:str=None, # backbone / LLM dtype and autocast: 'bfloat16' (GPU default) or 'float32' (smoke default); `--smoke --dtype bfloat16` checks the bf16 path on the CPU
         out:str=None, # the JSON result (default: bench/results/gpu.json; the smoke run: a temporary file)
        ):
    "Time Stage 1 and Stage 2 training and generation at production widths; write the JSON."
    device = 'cpu' if smoke else (device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if not smoke and device == 'cpu': raise SystemExit('no GPU: run `bash bench/gpu.sh --smoke` to check the code on the CPU')
    d = (lambda gpu, cpu: cpu if smoke else gpu)
    b = Bench(smoke, device, steps or d(10, 2), warmup if warmup is not None else d(3, 1), budget_s, dtype)
    if b.cuda: torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out = out or (str(Path(tempfile.gettempdir())/'gpu_smoke.json') if smoke else 'bench/results/gpu.json')
    res = {'benchmark': 'GPU: production widths, random weights' + (' (SMOKE RUN: tiny configs on the CPU, not a measurement)' if smoke else ''),
           'smoke': smoke, 'dtype': str(b.dtype).replace('torch.', ''), 'steps': b.steps, 'warmup': b.warmup,
           'models': {'vision': 'CLIP ViT-L/14-336 vision tower', 'text': 'CLIP-L text tower (character tokenizer)',
                      'audio': 'Whisper-large-v3 encoder', 'llm': 'Qwen2.5-3B config'} if not smoke else 'tiny configs',
           'machine': machine_info(cuda=torch.version.cuda), 'sections': {}, 'skipped': []}
    def section(name, fn):
        if b.left() <= 0: res['skipped'].append(name); print(f'[{name}] skipped: over the time budget', flush=True); return
        res['sections'][name] = r = fn()
        show(name, r)
        atomic_write_json(out, finish(res))
    section('align', lambda: bench_align(b, align_batch or d(64, 4), audio_s))
    section('trainer', lambda: bench_trainer(b, align_batch or d(64, 4), audio_s))
    b.reset_peak()
    t_llm, llm = b.build(lambda: QwenDecoder(llm_config(b)).llm)
    res['llm_build_s'] = round(t_llm, 1)
    section('generate', lambda: bench_generate(b, llm, d([1, 8], [1, 2]), 32, new_tokens or d(128, 4), [64, 577, 1500]))
    for mode in [m.strip() for m in vlm_modes.split(',') if m.strip()]:
        section(f'vlm_{mode}', lambda: bench_vlm(b, llm, mode, vlm_batch_size or d(8, 2), 32, 32))
    res['total_s'] = round(time.perf_counter() - b.t0, 1)
    atomic_write_json(out, finish(res))
    print(f'\ntotal {res["total_s"]} s; wrote {out}')
