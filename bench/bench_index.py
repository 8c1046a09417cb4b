"""MatryoshkaIndex (128-wide FAISS shortlist + full-width re-rank) vs flat full-width FAISS search.

Prints queries/s and recall@10 against exact search side by side, and writes bench/results/index.json.

    python bench/bench_index.py                                  # 100k x 512
    python bench/bench_index.py --sizes 100000,1000000           # also 1M (about 7 GB of RAM)
    python bench/bench_index.py --profile run/embeddings.npy     # mimic a trained run's variance profile

Data: synthetic clustered unit vectors whose per-dimension standard deviation decays with the
dimension index (`edgeglass.index.mrl_variance_profile`), or follows the profile measured on real
embeddings given with --profile. Queries are drawn from the same clusters as the gallery.
"""
from __future__ import annotations
import os, platform, statistics, time
from pathlib import Path

import numpy as np
from fastcore.script import call_parse

from edgeglass.index import (MatryoshkaIndex, mrl_variance_profile, prefix_variance_share, recall_at_k,
                             synthetic_mrl_embeddings, variance_profile, _faiss)
from edgeglass.utils import atomic_write_json


def load_profile(path:str) -> np.ndarray:
    "Per-dimension std of the embeddings in a .npy or .safetensors file (first tensor)."
    p = Path(path)
    if p.suffix == '.safetensors':
        from safetensors.numpy import load_file
        t = load_file(str(p))
        if not t: raise ValueError(f'{p}: no tensors')
        x = next(iter(t.values()))
    else: x = np.load(p, allow_pickle=False)
    return variance_profile(x)


def timed_search(fn, queries:np.ndarray, k:int, repeats:int):
    "Median wall time of `fn(queries, k)` over `repeats` runs (after one small warm-up), and the last result."
    fn(queries[:8], k)
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter(); out = fn(queries, k); times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bench_size(n:int, profile:np.ndarray, n_queries:int, k:int, shortlist_dim:int, shortlist_k:int,
               kinds:list[str], hnsw_m:int, ef_search:int|None, repeats:int, seed:int) -> dict:
    "All methods on one gallery size."
    faiss, dim = _faiss(), len(profile)
    t = time.perf_counter()
    data = synthetic_mrl_embeddings(n + n_queries, dim, profile=profile, seed=seed)
    gallery, queries = data[:n], data[n:]
    print(f'\n== {n:,} x {dim} gallery, {n_queries:,} queries, k={k} (data generated in {time.perf_counter() - t:.1f} s)')
    rows = []

    t = time.perf_counter(); flat = faiss.IndexFlatIP(dim); flat.add(gallery); build = time.perf_counter() - t
    sec, (_, truth) = timed_search(lambda q, kk: flat.search(q, kk), queries, k, repeats)
    rows.append(dict(method=f'flat full width ({dim})', build_s=build, search_s=sec, qps=n_queries / sec, recall_at_10=1.0))
    del flat

    for kind in kinds:
        t = time.perf_counter()
        idx = MatryoshkaIndex(gallery, shortlist_dim, shortlist_k, kind=kind, hnsw_m=hnsw_m, ef_search=ef_search)
        build = time.perf_counter() - t
        sec, (_, ids) = timed_search(idx.search, queries, k, repeats)
        rows.append(dict(method=f'MatryoshkaIndex {kind} {shortlist_dim} + re-rank {shortlist_k}', build_s=build,
                         search_s=sec, qps=n_queries / sec, recall_at_10=recall_at_k(ids, truth, k)))
        del idx

    base = rows[0]['qps']
    print(f'{"method":<44}{"build s":>9}{"queries/s":>11}{"speed-up":>10}{"recall@10":>11}')
    for r in rows:
        r['speedup'] = r['qps'] / base
        print(f'{r["method"]:<44}{r["build_s"]:>9.1f}{r["qps"]:>11.0f}{r["speedup"]:>9.2f}x{r["recall_at_10"]:>11.4f}')
    return dict(n=n, dim=dim, n_queries=n_queries, k=k, rows=rows)


@call_parse
def main(sizes:str='100000', # gallery sizes, comma-separated (e.g. 100000,1000000)
         dim:int=512, # embedding width (ignored with --profile: the profile's width is used)
         n_queries:int=1000, # queries per measurement
         k:int=10, # neighbours per query (recall@k is measured at this k)
         shortlist_dim:int=128, # Matryoshka prefix searched by FAISS
         shortlist_k:int=200, # candidates re-ranked at full width
         kinds:str='flat,hnsw', # FAISS kinds for the shortlist (flat, ivf, hnsw)
         hnsw_m:int=32, # HNSW links per node
         ef_search:int=None, # HNSW search list (default: shortlist_k)
         profile:str=None, # .npy/.safetensors embeddings of a trained run: copy their per-dimension variance
         rate:float=2.5, # synthetic profile std_i = max(exp(-rate i / D), floor)
         floor:float=0.3, # synthetic profile floor
         repeats:int=3, # timed runs per method (median reported)
         threads:int=None, # FAISS/OpenMP threads (default: all cores)
         seed:int=0, # data seed
         out:str='bench/results/index.json', # where the JSON result goes
        ):
    "Benchmark MatryoshkaIndex against flat full-width search."
    faiss, load = _faiss(), os.getloadavg()[0]
    if threads: faiss.omp_set_num_threads(threads)
    prof = load_profile(profile) if profile else mrl_variance_profile(dim, rate, floor)
    share = prefix_variance_share(prof, shortlist_dim)
    data_desc = (f'per-dimension variance measured on {profile}' if profile else
                 f'synthetic clustered unit vectors, per-dimension std = max(exp(-{rate} i / D), {floor}) '
                 f'(decaying with the dimension index, as in MRL-trained embeddings)')
    print(f'data: {data_desc}; the first {shortlist_dim} of {len(prof)} dimensions hold {share:.0%} of the variance')
    print(f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, FAISS {faiss.__version__}, '
          f'{faiss.omp_get_max_threads()} threads, load average {load:.1f}')
    results = [bench_size(int(s), prof, n_queries, k, shortlist_dim, shortlist_k, [x.strip() for x in kinds.split(',') if x.strip()],
                          hnsw_m, ef_search, repeats, seed) for s in sizes.split(',')]
    machine = dict(platform=platform.platform(), processor=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                   faiss=faiss.__version__, threads=faiss.omp_get_max_threads(), numpy=np.__version__,
                   load_average_at_start=load)  # other work on the machine slows every method, not the same amount
    atomic_write_json(out, dict(benchmark='MatryoshkaIndex vs flat full-width search', data=data_desc,
                                prefix_variance_share=share, shortlist_dim=shortlist_dim, shortlist_k=shortlist_k,
                                repeats=repeats, machine=machine, results=results,
                                command='python bench/bench_index.py --sizes ' + sizes))
    print(f'\nwrote {out}')
