"""The scalable losses across real processes: 1, 2 and 4 gloo ranks give the loss and the DDP-averaged gradients of one
process on the joined batch, and each rank's share equals open_clip's own `ClipLoss` / `SigLipLoss` on that rank."""
import importlib.metadata, importlib.util, tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from edgeglass.losses import AlignmentLoss, _dist_check_setup, _dist_check_step, _dist_check_worker
from edgeglass.utils import load_safetensors, save_safetensors

OPTIONS = {'gather': {}, 'local': {'local_loss': True}, 'siglip': {'kind': 'siglip', 'temperature': 0.1}}
SPLITS = {1: [(8,)], 2: [(4, 4), (3, 5)], 4: [(2, 2, 2, 2), (1, 3, 2, 2)]}

def open_clip_loss_module():
    "open_clip's loss.py by file path: it needs only torch, while the package's __init__ pulls in timm and torchvision."
    try: d = importlib.metadata.distribution('open_clip_torch')
    except importlib.metadata.PackageNotFoundError: pytest.fail('open_clip_torch is not installed: scripts/setup.sh installs it (--no-deps)')
    path = next(d.locate_file(f) for f in d.files if str(f).endswith('open_clip/loss.py'))
    spec = importlib.util.spec_from_file_location('open_clip_loss', path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

@pytest.mark.parametrize('world', [1, 2, 4])
def test_ranks_equal_one_process(world, tmp_path):
    "Every option, pair and tri-modal, even and uneven shares: the ranks' mean loss and averaged gradients are the joined batch's."
    cases = tuple((f'{kind}-{opt}-{i}', kind, kw, split) for opt, kw in OPTIONS.items() for kind in ('pair', 'tri')
                  for i, split in enumerate(SPLITS[world]))
    mp.spawn(_dist_check_worker, args=(world, str(tmp_path / 'init'), str(tmp_path), cases), nprocs=world, join=True)
    for name, kind, kw, split in cases:
        got = load_safetensors(tmp_path / f'{name}.safetensors')
        one = _dist_check_step(*_dist_check_setup(kind, kw, n=sum(split)), kind)
        assert set(got) == set(one), name
        for k in one: torch.testing.assert_close(got[k], one[k], atol=2e-5, rtol=1e-4, msg=f'{name} {k}')

def _peer_worker(rank, world, init_file, out_dir):
    "Each rank: edgeglass's share and open_clip's on the same features, loss and projector gradient, before any averaging."
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    oc = open_clip_loss_module()
    try:
        peers = {'gather': lambda: oc.ClipLoss(local_loss=False, gather_with_grad=True, rank=rank, world_size=world),
                 'local': lambda: oc.ClipLoss(local_loss=True, gather_with_grad=True, rank=rank, world_size=world),
                 'siglip': lambda: oc.SigLipLoss(rank=rank, world_size=world, dist_impl='shift'),
                 'siglip-bidir': lambda: oc.SigLipLoss(rank=rank, world_size=world, dist_impl='bidir')}
        res = {}
        for name, peer in peers.items():
            proj, ours, inputs = _dist_check_setup('pair', {**OPTIONS[name.split('-')[0]], 'mrl_dims': ()}, n=4 * world)
            x, y = (inputs[m][4 * rank:4 * rank + 4] for m in ('vision', 'text'))
            out = ours(proj(x), proj(y)).loss
            out.backward()
            res[f'{name}.ours.loss'], res[f'{name}.ours.grad'] = out.detach(), proj.weight.grad.clone()
            proj.weight.grad = None
            args = [ours.logit_scale] + ([ours.logit_bias] if name.startswith('siglip') else [])
            theirs = peer()(F.normalize(proj(x), dim=-1), F.normalize(proj(y), dim=-1), *args)
            theirs.backward()
            res[f'{name}.theirs.loss'], res[f'{name}.theirs.grad'] = theirs.detach(), proj.weight.grad.clone()
        save_safetensors(res, Path(out_dir) / f'rank{rank}.safetensors')
    finally: dist.destroy_process_group()

@pytest.mark.parametrize('world', [1, 2, 4])
def test_each_rank_equals_open_clip(world, tmp_path):
    "Rank by rank, the loss and the gradient it sends into the projector match open_clip's published implementation."
    open_clip_loss_module()
    mp.spawn(_peer_worker, args=(world, str(tmp_path / 'init'), str(tmp_path)), nprocs=world, join=True)
    for rank in range(world):
        res = load_safetensors(tmp_path / f'rank{rank}.safetensors')
        for name in ('gather', 'local', 'siglip', 'siglip-bidir'):
            for what in ('loss', 'grad'):
                torch.testing.assert_close(res[f'{name}.ours.{what}'], res[f'{name}.theirs.{what}'], atol=2e-5, rtol=1e-4,
                                           msg=f'rank {rank}/{world} {name} {what}')

def test_local_shares_differ_from_the_mean():
    "The check can fail: a rank's local share is not the joined loss, only the mean over ranks is."
    proj, loss, inputs = _dist_check_setup('pair', {'local_loss': True})
    whole = loss(proj(inputs['vision']), proj(inputs['text'])).loss
    halves = [AlignmentLoss(mrl_dims=(16, 32), mrl_weight=0.5)(proj(inputs['vision'][i:i + 4]), proj(inputs['text'][i:i + 4])).loss
              for i in (0, 4)]
    assert all((h - whole).abs() > 1e-2 for h in halves)

def test_bench_quick():
    "The short version of bench/bench_losses.py: two ranks, two small batches; every loss gets a row with a peak."
    import subprocess, sys
    bench = Path(__file__).parents[1] / 'bench' / 'bench_losses.py'
    r = subprocess.run([sys.executable, str(bench), '--world', '2', '--batches', '256', '512', '--repeats', '1', '--quick'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [l.split() for l in r.stdout.splitlines() if l.strip() and l.split()[0].isdigit()]
    assert [(row[0], row[1]) for row in rows] == [(n, k) for n in ('256', '512') for k in ('gather-all', 'local', 'siglip')]
    assert all(float(row[2]) > 0 for row in rows)
