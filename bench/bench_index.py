"""MatryoshkaIndex (128-wide FAISS shortlist + exact full-width re-rank) vs flat full-width FAISS search.

Prints queries/s and recall@10 against exact search side by side, per gallery size, and writes
`bench/results/index.json`.

    python bench/bench_index.py                                   # 100k x 512, synthetic MRL-like profile
    python bench/bench_index.py --sizes 100000 1000000 --threads 1  # also 1M (about 7 GB of RAM at the peak)
    python bench/bench_index.py --profile bench/profiles/demo512_image.npy  # a trained run's variance profile

Data: synthetic clustered unit vectors (`edgeglass.index.synthetic_mrl_embeddings`) whose per-dimension
standard deviation follows either the profile measured on a trained run's embeddings (`--profile`: a profile
saved by `bench/profile_run.py`, embeddings in a `.npy` / `.safetensors` file, or an index folder written by
`edgeglass.index.index_run`), or the
parametric decaying profile `edgeglass.index.mrl_variance_profile`. The output says which. Queries come
from the same clusters as the gallery. Exact search is FAISS `IndexFlatIP` at full width (the
baseline); recall@10 is the share of its top 10 that a method returns in its own top 10.

Methods, all on `--threads` threads (FAISS/OpenMP; 1 is fairest on a shared machine): flat full width;
`MatryoshkaIndex` with a flat (exact), HNSW or IVF shortlist at `--shortlist_dim`, re-ranked at full width.
Query time is the median of `--repeats` batched searches of all queries (after a warm-up); each method is
timed in alternation with flat full-width search, and its speed-up is the ratio of the two medians, so load
from other processes on a shared machine slows both sides of each ratio alike.
"""
from __future__ import annotations
import gc, json, os, statistics, time
from pathlib import Path

import numpy as np
from fastcore.script import Param, call_parse

from common import finish, machine_info
from edgeglass.index import (MatryoshkaIndex, _faiss, mrl_variance_profile, prefix_variance_share, recall_at_k,
                             synthetic_mrl_embeddings, variance_profile)
from edgeglass.utils import atomic_write_json


def load_profile(path:str) -> tuple[np.ndarray, int|None]:
    "A profile saved by `bench/profile_run.py` (1-D .npy), or the per-dimension std of the embeddings in a .npy / .safetensors file or an index folder; and how many vectors it came from."
    p = Path(path)
    if p.is_dir(): p = p/'embeddings.npy'
    if p.suffix == '.safetensors':
        from safetensors.numpy import load_file
        t = load_file(str(p))
        if not t: raise ValueError(f'{p}: no tensors')
        x = next(iter(t.values()))
    else: x = np.load(p, allow_pickle=False)
    if x.ndim == 1:                                            # already a profile
        meta = p.with_suffix('.json')
        return x.astype(np.float32), json.loads(meta.read_text()).get('items') if meta.exists() else None
    return variance_profile(x), len(x)


def paired_times(base, fn, queries:np.ndarray, k:int, repeats:int):
    "Wall times of `base(queries, k)` and `fn(queries, k)`, alternating for `repeats` rounds after a warm-up; `fn`'s last result."
    base(queries[:8], k); fn(queries[:8], k)
    tb, tf, out = [], [], None
    for _ in range(repeats):   # alternating: load from other processes slows both sides alike
        t = time.perf_counter(); base(queries, k); tb.append(time.perf_counter() - t)
        t = time.perf_counter(); out = fn(queries, k); tf.append(time.perf_counter() - t)
    return tb, tf, out


def bench_size(n:int, profile:np.ndarray, n_queries:int, k:int, shortlist_dim:int, shortlist_k:int, kinds:list[str],
               hnsw_m:int, ef_construction:int, ef_search:int|None, nlist:int|None, nprobe:int, repeats:int, seed:int) -> dict:
    "Every method on one gallery size, each timed alternately with flat full-width search."
    faiss, dim = _faiss(), len(profile)
    t = time.perf_counter()
    data = synthetic_mrl_embeddings(n + n_queries, dim, profile=profile, seed=seed)
    gallery, queries = data[:n], np.ascontiguousarray(data[n:])
    print(f'\n== {n:,} x {dim} gallery, {n_queries:,} queries, k={k} (data generated in {time.perf_counter() - t:.1f} s)', flush=True)
    t = time.perf_counter(); flat = faiss.IndexFlatIP(dim); flat.add(gallery); flat_build = time.perf_counter() - t
    _, truth = flat.search(queries, k)                                   # exact top-k at full width
    rows, base_times = [], []
    for kind in kinds:
        t = time.perf_counter()
        idx = MatryoshkaIndex(gallery, shortlist_dim, shortlist_k, kind=kind, hnsw_m=hnsw_m, ef_construction=ef_construction,
                              ef_search=ef_search, nlist=nlist, nprobe=nprobe)
        build = time.perf_counter() - t
        tb, tf, (_, ids) = paired_times(flat.search, idx.search, queries, k, repeats)
        base_times += tb
        knobs = (f' (M={hnsw_m}, efSearch={ef_search or shortlist_k})' if kind == 'hnsw' else
                 f' (nlist={idx.index.nlist}, nprobe={nprobe})' if kind == 'ivf' else '')
        rows.append(dict(method=f'MatryoshkaIndex {kind} {shortlist_dim}{knobs} + re-rank {shortlist_k}', kind=kind, build_s=round(build, 2),
                         search_s=round(statistics.median(tf), 4), qps=round(n_queries / statistics.median(tf), 1),
                         recall_at_10=round(recall_at_k(ids, truth, k), 4),
                         flat_qps_alongside=round(n_queries / statistics.median(tb), 1),
                         speedup=round(statistics.median(tb) / statistics.median(tf), 2)))
        r = rows[-1]
        print(f'  {r["method"]}: {r["qps"]:.0f} q/s ({r["speedup"]:.2f}x flat full width, timed alongside at {r["flat_qps_alongside"]:.0f} q/s), '
              f'recall@10 {r["recall_at_10"]:.4f}, built in {r["build_s"]:.0f} s', flush=True)
        del idx; gc.collect()
    base = statistics.median(base_times)
    rows.insert(0, dict(method=f'flat full width ({dim})', kind='flat-full', build_s=round(flat_build, 2), search_s=round(base, 4),
                        qps=round(n_queries / base, 1), recall_at_10=1.0, speedup=1.0))
    return dict(n=n, dim=dim, n_queries=n_queries, k=k, rows=rows)


def print_table(res:dict):
    print(f'\n{res["n"]:,} x {res["dim"]}, {res["n_queries"]} queries')
    print(f'{"method":<62}{"build s":>9}{"queries/s":>11}{"speed-up":>10}{"recall@10":>11}')
    for r in res['rows']:
        print(f'{r["method"]:<62}{r["build_s"]:>9.1f}{r["qps"]:>11.0f}{r["speedup"]:>9.2f}x{r["recall_at_10"]:>11.4f}')


@call_parse
def main(sizes:Param('gallery sizes', int, nargs='+')=[100000],
         dim:int=512, # embedding width (with --profile: the profile's width)
         n_queries:int=1000, # queries per measurement
         k:int=10, # neighbours per query (recall@k is measured at this k)
         shortlist_dim:int=128, # Matryoshka prefix searched by FAISS
         shortlist_k:int=200, # candidates re-ranked at full width
         kinds:str='flat,hnsw,ivf', # FAISS kinds for the shortlist (flat, ivf, hnsw), comma-separated
         hnsw_m:int=32, # HNSW links per node
         ef_construction:int=80, # HNSW build-time candidate list
         ef_search:int=None, # HNSW search list (default: shortlist_k)
         nlist:int=None, # IVF lists (default: 4 sqrt(N), at most N / 39)
         nprobe:int=32, # IVF lists visited per query
         profile:str=None, # a trained run's embeddings (.npy / .safetensors / index folder): copy their per-dimension std
         rate:float=2.5, # without --profile: std_i = max(exp(-rate i / D), floor)
         floor:float=0.3, # without --profile: the profile's floor
         repeats:int=3, # timed searches per method (median reported)
         threads:int=None, # FAISS/OpenMP threads for building and searching (default: all cores)
         seed:int=0, # data seed
         out:str='bench/results/index.json', # where the JSON result goes
        ):
    "Benchmark MatryoshkaIndex against flat full-width search."
    faiss = _faiss()
    if threads: faiss.omp_set_num_threads(threads)
    if profile:
        prof, n_prof = load_profile(profile)
        source = f'per-dimension std measured on {n_prof or "the"} embeddings of a trained run ({profile})'
    else:
        prof, source = mrl_variance_profile(dim, rate, floor), f'parametric decaying profile std_i = max(exp(-{rate} i / D), {floor}) (edgeglass.index.mrl_variance_profile), not measured on a run'
    share = prefix_variance_share(prof, shortlist_dim)
    data_desc = f'synthetic clustered unit vectors (edgeglass.index.synthetic_mrl_embeddings, n/100 clusters); profile: {source}'
    machine = machine_info(faiss=faiss.__version__, faiss_threads=faiss.omp_get_max_threads(), numpy=np.__version__)
    print(f'data: {data_desc}\nthe first {shortlist_dim} of {len(prof)} dimensions hold {share:.1%} of the variance')
    print(f'machine: {machine["cpu"]}, {machine["cores"]} cores, FAISS {faiss.__version__} on {machine["faiss_threads"]} threads, '
          f'load average {machine["load_average_at_start"]}', flush=True)
    kinds = [x.strip() for x in kinds.split(',') if x.strip()]
    res = dict(benchmark='MatryoshkaIndex vs flat full-width search', data=data_desc, profile=profile or 'parametric',
               prefix_variance_share=round(share, 4), shortlist_dim=shortlist_dim, shortlist_k=shortlist_k, repeats=repeats,
               machine=machine, results=[])
    for n in sizes:
        res['results'].append(bench_size(int(n), prof, n_queries, k, shortlist_dim, shortlist_k, kinds, hnsw_m, ef_construction,
                                         ef_search, nlist, nprobe, repeats, seed))
        print_table(res['results'][-1])
        atomic_write_json(out, finish(res))                    # after each size, so a long run keeps what it measured
    big = res['results'][-1]
    ok = [r for r in big['rows'][1:] if r['speedup'] >= 3 and r['recall_at_10'] >= 0.99]
    res['target'] = {'n': big['n'], 'needs': '>= 3x the queries/s of flat full width with recall@10 >= 0.99',
                     'met_by': [r['method'] for r in ok]}
    print(f'\nat {big["n"]:,}: >= 3x flat full width with recall@10 >= 0.99: ' + (', '.join(r['method'] for r in ok) or 'none'))
    atomic_write_json(out, finish(res))
    print(f'wrote {out}')
