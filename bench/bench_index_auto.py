"""`MatryoshkaIndex` with its defaults (`kind='auto'`) against exact flat search at every size, and against FAISS's own
HNSW at full width (the index a FAISS user would pick) at the largest.

Data: synthetic clustered unit vectors with the per-dimension variance profile of a trained 512-wide run
(`bench/profiles/demo512_image.npy`, as `bench/bench_index.py`), queries from the same clusters. Recall@10 is against
exact search. Every timing is interleaved with its baseline (flat at each size; the peer at the largest), medians of
`--repeats` rounds, on `--threads` threads (1: fairest on a shared machine):

- **batch**: all `--queries` queries in one call; **single**: `--singles` calls of one query each (an interactive user;
  5 times as many up to 100,000 vectors, where a call takes well under a millisecond and timer noise would dominate).
- **The peer**: `faiss.IndexHNSWFlat(D, 32)` built with the same effort as ours (efConstruction 80; FAISS's default,
  40, never reaches recall@10 0.99 at a million of these vectors), its `efSearch` swept upwards in small steps; it is
  compared at the smallest `efSearch` whose recall@10 reaches `--target` (0.99), ours at its defaults.
- **Memory**: the bytes of each structure as FAISS serialises it, plus our full-width vectors (which a loaded index can
  memory-map instead).

    python bench/bench_index_auto.py                       # 5k, 10k, 30k, 100k, 300k, 1M (about 40 minutes on 2 cores)
    python bench/bench_index_auto.py --sizes 20000 50000 --peer_at 50000 --quick
"""
from __future__ import annotations
import gc, statistics, sys, time
from pathlib import Path

import numpy as np
from fastcore.script import Param, call_parse, store_true

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, finish, machine_info
from bench_index import load_profile
from edgeglass.index import MatryoshkaIndex, _faiss, recall_at_k, synthetic_mrl_embeddings
from edgeglass.utils import atomic_write_json

def timed_pair(base, ours, q:np.ndarray, singles:int, repeats:int) -> dict:
    "Median seconds of base and ours, batch (all of q) and single (one query at a time), interleaved (the first alternates)."
    one = lambda fn: [fn(q[i:i + 1]) for i in range(singles)]
    base(q[:8]); ours(q[:8])
    out = {'base_batch': [], 'ours_batch': [], 'base_single': [], 'ours_single': []}
    for r in range(repeats):                                                  # who goes first alternates between rounds
        for mode in ('batch', 'single'):
            pair = [('base', base), ('ours', ours)][::1 if r % 2 == 0 else -1]
            for who, fn in pair:
                t = time.perf_counter(); fn(q) if mode == 'batch' else one(fn); out[f'{who}_{mode}'].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in out.items()}

def nbytes(index) -> int: return int(_faiss().serialize_index(index).nbytes)

def compare_peer(g, q, truth, idx, efs, target, singles, repeats, threads, cores, ef_construction:int|None=None) -> dict:
    "FAISS HNSW at full width: the efSearch sweep, then timed against ours at the smallest efSearch reaching `target`."
    faiss, (n, dim) = _faiss(), g.shape
    faiss.omp_set_num_threads(cores)
    h = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    if ef_construction: h.hnsw.efConstruction = ef_construction                # else FAISS's default (40)
    t = time.perf_counter(); h.add(g); build = time.perf_counter() - t
    faiss.omp_set_num_threads(threads)
    sweep = []
    for ef in efs:
        h.hnsw.efSearch = ef
        sweep.append({'ef_search': ef, 'recall_at_10': round(recall_at_k(h.search(q, 10)[1], truth), 4)})
        print(f'  peer HNSW{dim} M32 efSearch {ef}: recall@10 {sweep[-1]["recall_at_10"]:.4f}', flush=True)
        if sweep[-1]['recall_at_10'] >= target: break
    ok = [s for s in sweep if s['recall_at_10'] >= target]
    h.hnsw.efSearch = (ok[0] if ok else sweep[-1])['ef_search']
    tm = timed_pair(lambda x: h.search(x, 10), lambda x: idx.search(x, 10), q, singles, repeats)
    ours_bytes = nbytes(idx.index) + idx.full.nbytes
    res = {'n': n, 'dim': dim, 'peer': f'faiss.IndexHNSWFlat({dim}, 32), efConstruction {h.hnsw.efConstruction}, efSearch {h.hnsw.efSearch}',
           'peer_build_s': round(build, 1), 'peer_recall_at_10': (ok[0] if ok else sweep[-1])['recall_at_10'], 'peer_reached_target': bool(ok),
           'sweep': sweep, 'ours_recall_at_10': round(recall_at_k(idx.search(q, 10)[1], truth), 4),
           'peer_batch_qps': round(len(q) / tm['base_batch']), 'ours_batch_qps': round(len(q) / tm['ours_batch']),
           'peer_single_qps': round(singles / tm['base_single']), 'ours_single_qps': round(singles / tm['ours_single']),
           'batch_ratio': round(tm['base_batch'] / tm['ours_batch'], 2), 'single_ratio': round(tm['base_single'] / tm['ours_single'], 2),
           'peer_mib': round(nbytes(h) / 2**20), 'ours_mib': round(ours_bytes / 2**20), 'ours_mib_without_full': round(nbytes(idx.index) / 2**20)}
    print(f'  at {n:,}: ours {res["ours_batch_qps"]:,} q/s batch, {res["ours_single_qps"]:,} single (recall {res["ours_recall_at_10"]}); '
          f'peer {res["peer_batch_qps"]:,} / {res["peer_single_qps"]:,} (recall {res["peer_recall_at_10"]}): '
          f'{res["batch_ratio"]}x batch, {res["single_ratio"]}x single; memory {res["ours_mib"]} MiB ({res["ours_mib_without_full"]} without the '
          f'full vectors) vs {res["peer_mib"]} MiB', flush=True)
    del h; gc.collect()
    return res

@call_parse
def main(sizes:Param("gallery sizes", int, nargs="+")=[5_000, 10_000, 30_000, 100_000, 300_000, 1_000_000],
         peer_at:int=None, # the size at which FAISS HNSW at full width is the baseline (default: the largest)
         queries:int=1000, # batch size
         singles:int=200, # single-query calls per timing
         target:float=0.99, # recall@10 the peer and ours are compared at
         efs:Param('the peer\'s efSearch values', int, nargs='+')=[16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 112, 128, 160, 192, 256, 384, 512, 768],
         repeats:int=5, # timing rounds (median)
         peer_ef_construction:int=80, # the peer's efConstruction (FAISS's default: 40)
         threads:int=1, # FAISS threads for search (builds use every core)
         profile:str='bench/profiles/demo512_image.npy', # per-dimension std of a trained run
         quick:store_true=False, # CI: do not write bench/results
         out:str=None, # the JSON (default bench/results/index_auto.json)
        ):
    "The defaults table (auto vs flat, every size) and the peer comparison (auto vs FAISS HNSW full width, largest size)."
    faiss = _faiss()
    prof, _ = load_profile(profile)
    dim, peer_at, cores = len(prof), peer_at or max(sizes), faiss.omp_get_max_threads()
    machine = machine_info(faiss=faiss.__version__, faiss_threads=threads, build_threads=cores)
    rows, peer = [], None
    print(f'{"size":>10} {"default":<34} {"build s":>8} {"batch q/s":>10} {"vs flat":>8} {"single q/s":>11} {"vs flat":>8} {"recall@10":>10}')
    for n in sizes:
        data = synthetic_mrl_embeddings(n + queries, dim, profile=prof, seed=0)
        g, q = data[:n], np.ascontiguousarray(data[n:]); del data
        flat = faiss.IndexFlatIP(dim); flat.add(g)
        faiss.omp_set_num_threads(threads)
        truth = flat.search(q, 10)[1]
        faiss.omp_set_num_threads(cores)
        t = time.perf_counter(); idx = MatryoshkaIndex(g); build = time.perf_counter() - t
        faiss.omp_set_num_threads(threads)
        ours = lambda x: idx.search(x, 10)
        tm = timed_pair(lambda x: flat.search(x, 10), ours, q, n_single := singles * (5 if n <= 100_000 else 1), repeats)
        c = idx.config
        row = {'n': n, 'dim': dim, 'default': f"{c.kind} {c.shortlist_dim}" + (' 8-bit' if c.codes == 'sq8' else '') + (f" (M {c.hnsw_m}, efC {c.ef_construction}, efSearch {c.ef_search}) + re-rank {c.shortlist_k}" if c.kind == 'hnsw' else '' if idx.exact else f' + re-rank {c.shortlist_k}'),
               'config': c.to_dict(), 'build_s': round(build, 1), 'recall_at_10': round(recall_at_k(ours(q)[1], truth), 4),
               'batch_qps': round(queries / tm['ours_batch']), 'flat_batch_qps': round(queries / tm['base_batch']),
               'single_qps': round(n_single / tm['ours_single']), 'flat_single_qps': round(n_single / tm['base_single'])}
        row['batch_vs_flat'], row['single_vs_flat'] = round(tm['base_batch'] / tm['ours_batch'], 2), round(tm['base_single'] / tm['ours_single'], 2)
        rows.append(row)
        print(f'{n:>10,} {row["default"][:34]:<34} {build:>8.1f} {row["batch_qps"]:>10,} {row["batch_vs_flat"]:>7.2f}x {row["single_qps"]:>11,} '
              f'{row["single_vs_flat"]:>7.2f}x {row["recall_at_10"]:>10.4f}', flush=True)
        del flat; gc.collect()
        if n == peer_at: peer = compare_peer(g, q, truth, idx, efs, target, singles, repeats, threads, cores, peer_ef_construction)
        del idx, g, q; gc.collect()
    res = finish({'benchmark': 'MatryoshkaIndex defaults vs flat, and vs FAISS HNSW at full width', 'profile': profile,
                  'queries': queries, 'singles': singles, 'target_recall': target, 'machine': machine, 'defaults': rows, 'peer': peer})
    if not quick:
        path = Path(out or RESULTS/'index_auto.json'); atomic_write_json(path, res); print(f'wrote {path}')
    return res
