"""The per-dimension variance profile of a trained run's embeddings, for `bench_index.py --profile`.

    python bench/profile_run.py                     # train a 512-wide head on the demo data (a few minutes), then measure
    python bench/profile_run.py --run RUN --data DIR  # measure an existing run on a folder

Without `--run`, trains the offline default (`RunConfig()`: EfficientNet-Lite0, MiniLM, Whisper tiny.en,
12 epochs on the demo data) with its heads widened to 512 and Matryoshka widths (128, 256, 512), the widths
the index benchmark uses. Then embeds the folder's `--modality` items with `edgeglass.index.index_run` and
writes the standard deviation of each dimension of the unit-normalised embeddings to `--out` (a 1-D
`.npy`), with a JSON beside it that says where it came from.
"""
from __future__ import annotations
import os, tempfile
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np
from fastcore.script import call_parse

from common import finish, machine_info
from edgeglass.index import MatryoshkaIndex, index_run, prefix_variance_share, variance_profile
from edgeglass.utils import atomic_write_json

def train_wide_run(out:Path, width:int=512) -> Path:
    "The offline default run on the demo data, its heads `width` wide with MRL widths (width/4, width/2, width)."
    from edgeglass.stage1 import RunConfig, run_align
    from edgeglass.data import build_demo_data
    from edgeglass.models.alignment import MultimodalAlignmentConfig
    base = RunConfig()
    d = base.model.to_dict()
    dims = [width // 4, width // 2, width]
    for m in ('vision', 'text', 'audio'): d[m]['head'].update(out_dim=width, mrl_dims=dims)
    d['loss']['mrl_dims'] = dims
    run_align(build_demo_data(), out, base.replace(model=MultimodalAlignmentConfig.from_dict(d).to_dict()), progress=False)
    return out

@call_parse
def main(run:str=None, # a trained run folder (None: train the 512-wide demo run in a temporary folder)
         data:str=None, # the folder whose items are embedded (None: the demo data)
         modality:str='image', # which items: 'image', 'text' or 'audio'
         out:str='bench/profiles/demo512_image.npy', # the profile (1-D .npy); a .json with its provenance is written beside it
        ):
    "Measure (training first if asked) a run's per-dimension variance profile and save it."
    from edgeglass.data import build_demo_data
    data = data or str(build_demo_data())
    with tempfile.TemporaryDirectory(prefix='profile_run_') as tmp:
        trained = run is None
        run = run or str(train_wide_run(Path(tmp)/'run'))
        idx = MatryoshkaIndex.load(index_run(run, data, Path(tmp)/'index', modality=modality, progress=False))
    prof = variance_profile(idx.full)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.save(out, prof.astype(np.float32), allow_pickle=False)
    quarter = prefix_variance_share(prof, len(prof) // 4)
    info = {'what': f'per-dimension std of {len(idx)} unit-normalised {modality} embeddings (width {len(prof)}) of a trained run',
            'run': 'the offline default RunConfig() with 512-wide heads, MRL (128, 256, 512), trained on the demo data' if trained else run,
            'data': data, 'items': len(idx), 'width': len(prof), 'first_quarter_variance_share': round(quarter, 4),
            'machine': machine_info()}
    atomic_write_json(Path(out).with_suffix('.json'), finish(info))
    print(f'{len(idx)} {modality} embeddings of width {len(prof)}: the first quarter of the dimensions holds {quarter:.1%} of the variance')
    print(f'wrote {out}')
