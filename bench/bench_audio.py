"""Audio feature extraction per clip with Whisper over each batch's real length ('trimmed') vs the 30 s window
('padded'), side by side, and the audio<->text retrieval of a model trained on each mode's features.

Run: `HF_HUB_OFFLINE=1 python bench/bench_audio.py` (Whisper tiny.en, the spoken captions of `build_demo_data()`).
Part 1 times waveform -> backbone frames (`features` + `extract`, the work the feature cache does) for `n_clips`
clips, in batches of `batch_size`, both modes in each of `rounds` interleaved rounds (best round reported), and
the trimmed mode once more with the clips grouped by length (`length_buckets`). Part 2 (skip with
`--no_retrieval`) trains the audio + text heads of `RunConfig()` (MiniLM + Whisper tiny.en, vision left out) on a
smaller demo set once per mode, with the same seed and the same cached text features, and prints audio<->text
retrieval side by side. Writes `bench/results/audio.json`. The timings are wall-clock on whatever else the
machine is running: the load average is recorded with them.
"""
from __future__ import annotations
import json, os, platform, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np
import torch
from fastcore.script import call_parse, store_true

from edgeglass.data import build_demo_data, load_audio
from edgeglass.encoders.audio import AUDIO_MODES, AudioEncoder, AudioEncoderConfig, length_buckets
from edgeglass.utils import atomic_write_json
from common import finish, machine_info

def _batches(n:int, batch_size:int, lengths=None) -> list[list[int]]:
    "Arrival order (`lengths` None), or clips grouped by length."
    return length_buckets(lengths, batch_size) if lengths is not None else [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]

@torch.no_grad()
def extract_all(enc:AudioEncoder, waves:list, batches:list[list[int]], rate:int=16000) -> tuple[float, int, int]:
    "Seconds to turn every clip into backbone frames; the real and the computed encoder frames."
    t, real, run = time.perf_counter(), 0, 0
    for idx in batches:
        x, m = enc.features([waves[i] for i in idx], rate)
        f = enc.extract(x, mask=m)
        real += int(f.mask.sum()); run += f.mask.numel()
    return time.perf_counter() - t, real, run

def timing(backbone:str, n_clips:int, batch_size:int, rounds:int) -> dict:
    "Extraction time per clip for both modes, interleaved rounds, on the demo's spoken captions."
    data = build_demo_data()
    rows = [json.loads(l) for l in (data/'metadata.jsonl').read_text().splitlines() if l.strip()]
    waves = [load_audio(data/r['audio'], 16000) for r in rows[:n_clips]]        # read once: disk time is not timed
    enc = {m: AudioEncoder(AudioEncoderConfig(backbone=backbone, mode=m)).eval() for m in AUDIO_MODES}
    runs = {'padded': ('padded', None), 'trimmed': ('trimmed', None),
            'trimmed + length buckets': ('trimmed', [len(w) for w in waves])}
    for mode in AUDIO_MODES: extract_all(enc[mode], waves, [[0, 1]])             # warm-up
    times, run_frames = {k: [] for k in runs}, {}
    for _ in range(rounds):
        for k, (mode, lengths) in runs.items():
            s, real, run = extract_all(enc[mode], waves, _batches(len(waves), batch_size, lengths))
            times[k].append(s); run_frames[k] = run
    out = {k: {'ms_per_clip': round(1000 * min(times[k]) / len(waves), 1),
               'ms_per_clip_each_round': [round(1000 * s / len(waves), 1) for s in times[k]],
               'encoder_frames_run_per_clip': round(run_frames[k] / len(waves), 1)} for k in runs}
    return {'clips': len(waves), 'batch_size': batch_size, 'rounds': rounds,
            'seconds_per_clip': {'mean': round(float(np.mean([len(w) / 16000 for w in waves])), 2),
                                 'min': round(min(len(w) for w in waves) / 16000, 2), 'max': round(max(len(w) for w in waves) / 16000, 2)},
            'real_encoder_frames_per_clip': round(real / len(waves), 1), 'modes': out,
            'speedup_trimmed': round(out['padded']['ms_per_clip'] / out['trimmed']['ms_per_clip'], 1),
            'speedup_trimmed_buckets': round(out['padded']['ms_per_clip'] / out['trimmed + length buckets']['ms_per_clip'], 1)}

def retrieval(backbone:str, n_train:int, n_test:int, epochs:int|None, work:Path) -> dict:
    "Train the audio + text heads on each mode's features (same seed, same text features); audio<->text retrieval."
    from edgeglass.cache import FeatureCache
    from edgeglass.stage1 import RunConfig, run_align, run_eval
    from edgeglass.models.alignment import MultimodalAlignmentConfig
    data = build_demo_data(n_train=n_train, n_test=n_test)
    base = RunConfig()
    d = base.model.to_dict()
    d['vision'] = None
    d['loss']['pair_weights'] = {'audio-text': 1.0}
    d['audio']['backbone'] = backbone
    cache, res = FeatureCache(work/'features'), {}
    for mode in AUDIO_MODES:
        d['audio']['mode'] = mode
        cfg = base.replace(model=MultimodalAlignmentConfig.from_dict(d).to_dict(),
                           train={**base.train.to_dict(), **({'epochs': epochs} if epochs else {})})
        t = time.perf_counter()
        run_align(data, work/mode, cfg, cache=cache, progress=False)
        t_align = time.perf_counter() - t
        m = run_eval(work/mode, data, cache=cache, progress=False, plots=False)
        res[mode] = {'align_s': round(t_align, 1), 'retrieval': {k: v for k, v in m['retrieval'].items() if 'audio' in k},
                     'chance': m.get('chance')}
    return {'n_train': n_train, 'n_test': n_test, 'epochs': cfg.train.epochs, 'model': 'RunConfig().model without vision: MiniLM + '
            f'{backbone}, heads as the offline default, loss on audio-text only', 'modes': res}

def print_timing(t:dict):
    print(f"\n{t['clips']} spoken captions ({t['seconds_per_clip']['min']}-{t['seconds_per_clip']['max']} s, mean "
          f"{t['seconds_per_clip']['mean']} s; {t['real_encoder_frames_per_clip']} real encoder frames of 1500), "
          f"batches of {t['batch_size']}, best of {t['rounds']} interleaved rounds")
    print(f"{'mode':<26}{'ms / clip':>10}{'frames run / clip':>19}   rounds (ms / clip)")
    for k, v in t['modes'].items():
        print(f"{k:<26}{v['ms_per_clip']:>10.1f}{v['encoder_frames_run_per_clip']:>19}   {v['ms_per_clip_each_round']}")
    print(f"speed-up, trimmed vs padded: {t['speedup_trimmed']}x (with length buckets: {t['speedup_trimmed_buckets']}x)")

def print_retrieval(r:dict):
    modes = list(r['modes'])
    print(f"\naudio<->text retrieval on the test split ({r['n_test']} items; trained on {r['n_train']}, {r['epochs']} epochs; "
          'same caption counts as a hit)')
    first = r['modes'][modes[0]]['retrieval']
    print(f"{'direction':<14}{'width':>6}" + ''.join(f"{m + ' R@1':>14}{m + ' R@10':>15}" for m in modes))
    for direction, widths in first.items():
        for w in widths:
            print(f'{direction:<14}{w:>6}' + ''.join(f"{r['modes'][m]['retrieval'][direction][w]['R@1']:>14.3f}"
                                                   f"{r['modes'][m]['retrieval'][direction][w]['R@10']:>15.3f}" for m in modes))
    print('align (extract + train) s: ' + ', '.join(f"{m} {r['modes'][m]['align_s']}" for m in modes))

@call_parse
def main(backbone:str='whisper-tiny.en', # the Whisper encoder (an offline name, folder or hub id)
         n_clips:int=100, # clips timed
         batch_size:int=32, # clips per backbone call (the feature cache's default)
         rounds:int=2, # interleaved timing rounds; the best is reported
         no_retrieval:store_true=False, # skip part 2 (training on each mode's features)
         n_train:int=300, # demo training items for part 2 (padded extraction of n_train + n_test clips dominates its time)
         n_test:int=150, # demo test items for part 2
         epochs:int=None, # training epochs for part 2 (None: `RunConfig()`'s)
         out:str='bench/results/audio.json', # where to write the numbers
        ):
    "Time both audio modes side by side; train and evaluate on each; print and save the numbers."
    torch.manual_seed(0)
    res = {'benchmark': 'Whisper audio features: trimmed to the real length vs the padded 30 s window', 'backbone': backbone,
           'machine': machine_info()}
    res['timing'] = timing(backbone, n_clips, batch_size, rounds)
    print_timing(res['timing'])
    if not no_retrieval:
        with tempfile.TemporaryDirectory(prefix='bench_audio_') as work:
            res['retrieval'] = retrieval(backbone, n_train, n_test, epochs, Path(work))
        print_retrieval(res['retrieval'])
    atomic_write_json(out, finish(res))
    print(f'\nwritten: {out}  (load average {res["machine"]["load_average_at_start"]:.1f} at start, '
          f'{res["machine"]["load_average_at_end"]:.1f} at end, on {res["machine"]["cores"]} CPUs)')
