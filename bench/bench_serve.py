"""`edgeglass serve` under load: startup time, search latency and throughput, bad requests, clean shutdown.

    python bench/bench_serve.py                 # the demo run, a 100,000-item image index, 8 clients x 200 requests
    python bench/bench_serve.py --n 1000000     # a larger index
    python bench/bench_serve.py --quick         # CI: a tiny run, 2,000 items, 2 clients x 20 requests (a minute or two)

Writes `bench/results/serve.json` (`--out`) and prints a short table.

What it does:

1. A Stage 1 run. Full: the real demo model, trained once with `edgeglass demo --out DIR` (about 4 minutes on
   2 cores; `--run_dir`, default `~/.cache/edgeglass/bench/serve-demo-run`, reused when it already holds a model).
   `--quick`: a tiny random-encoder run (`RunConfig.tiny()`) on a 24-row shapes manifest in a temporary folder.
2. A copy of that run whose `index-vision` holds `--n` items. The vectors are the run's real image embeddings
   of its training data (`edgeglass.index.index_run` on the folder in `RUN/summary.json`), tiled to N rows with
   small gaussian noise added (`--noise`: the noise vector's norm relative to the unit embedding) and
   re-normalised; the items list cycles over the real image paths, so results have real captions and files.
   It is saved as a `MatryoshkaIndex` with `index_run`'s defaults (`kind='auto'`: at 100,000 items an HNSW graph
   over the 128-wide prefix, 100 candidates re-ranked at full width; the result records the config) and `index_run`'s
   metadata. The text and audio indexes of the
   copy are the real ones (built by `index_run`), so the server only loads at startup and builds nothing.
3. The server in a subprocess (`edgeglass serve --run COPY --host 127.0.0.1 --port P`; before that command
   existed, `python -c "from edgeglass.serve import serve; serve(...)"`; the result says which) on a free port.
   Startup time: from starting the process until `GET /api/health` answers 200. Also the wall time of
   `edgeglass --help` and `edgeglass search --help` (median of 5 processes each).
4. Load: `--clients` threads (one `requests.Session` each, in this process) x `--requests` each of
   `POST /api/search` `{"text": caption, "k": 10, "modality": "image"}` with captions drawn at random from the
   run's data, at the default (full) width. Per-request latency as the client sees it (p50, p99), requests/s
   over the whole load, errors (any non-200 or exception), and the server's own `ms` (embedding + search).
   Then one client, sequential (`--warm` requests, after a warm-up), at every width of the model (the full width
   and the smallest MRL width included). Then the same concurrent load with every 5th request (20%) bad, cycling
   over: empty text, k=0, width=7, a non-JSON body, an unknown modality. Checked: every bad one got a 4xx with an
   "error" key, every good one a 200 with k results, no 5xx, no connection errors, and `/api/health` answers after.
5. SIGTERM to the server: whether and how fast it exits, and its return code.

The load clients run in this process beside the server on the same cores, so on a small machine the figures
are a floor for what the server alone would do; the load average at start and end is recorded.
"""
from __future__ import annotations
import json, os, random, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from fastcore.script import call_parse

from common import RESULTS, finish, machine_info, proc_kb
from edgeglass.utils import atomic_write_json

os.environ.setdefault('HF_HUB_OFFLINE', '1')
VENV_BIN = Path(sys.executable).parent
EDGEGLASS = str(VENV_BIN/'edgeglass') if (VENV_BIN/'edgeglass').exists() else shutil.which('edgeglass') or 'edgeglass'
BAD_KINDS = ('empty text', 'k=0', 'width=7', 'non-JSON body', 'unknown modality')


# ---------------------------------------------------------------- the run and its big index
def stage1_run(run_dir:Path, quick:bool, tmp:Path) -> tuple[Path, float]:
    "A trained Stage 1 run folder (reused when `run_dir` holds one) and the seconds spent training it (0: reused)."
    from edgeglass.runs import run_kind
    if quick:
        from edgeglass.stage1 import RunConfig, run_align
        from edgeglass.testing import shapes_manifest
        t = time.perf_counter()
        run_align(shapes_manifest(tmp/'shapes', n=24, size=32), tmp/'tiny-run', RunConfig.tiny(), progress=False)
        return tmp/'tiny-run', time.perf_counter() - t
    if run_kind(run_dir) == 'stage1' and (run_dir/'summary.json').is_file():
        print(f'reusing the demo run {run_dir}', flush=True)
        return run_dir, 0.0
    if run_dir.exists(): raise SystemExit(f'--run_dir: {run_dir} exists but holds no finished Stage 1 run; remove it or pass another')
    print(f'training the demo run: {EDGEGLASS} demo --out {run_dir} (a few minutes)', flush=True)
    t = time.perf_counter()
    subprocess.run([EDGEGLASS, 'demo', '--out', str(run_dir)], check=True)
    return run_dir, time.perf_counter() - t


def real_indexes(run:Path, data:str) -> dict[str, int]:
    "Index the run's data with its own model for every modality the data has (kept when already there); {modality: items}."
    from edgeglass.index import MatryoshkaIndex, folder_items, index_run
    from edgeglass.runs import RunFolder
    folder = RunFolder(run)
    model, out = folder.stage1_model(), {}
    for m in model.config.modalities:
        d = folder.index_folder(m)
        if not (d/'index.json').is_file():
            try: folder_items(data, m)
            except ValueError: continue
            index_run(run, data, d, m, progress=False, model=model)
        out[m] = len(MatryoshkaIndex.load(d))
    return out


def tiled_copy(run:Path, dest:Path, n:int, noise:float, seed:int) -> dict:
    "Copy `run` to `dest` (no checkpoints) with an `index-vision` of `n` rows: its real image embeddings tiled, noised, re-normalised."
    from edgeglass.index import MatryoshkaIndex
    from edgeglass.runs import RunFolder
    if dest.exists(): shutil.rmtree(dest)
    shutil.copytree(run, dest, ignore=lambda d, names: [x for x in names if x.startswith('checkpoint') or x == 'index-vision'])
    real = MatryoshkaIndex.load(run/'index-vision')
    base, items, meta = real.full, real.meta['items'], real.meta
    model = RunFolder(dest).stage1_model()
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    reps = -(-n // len(base))
    emb = np.tile(base, (reps, 1))[:n]
    emb += rng.standard_normal(emb.shape, dtype=np.float32) * np.float32(noise / np.sqrt(emb.shape[1]))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    index = MatryoshkaIndex(emb)                                  # index_run's defaults (kind='auto')
    shortlist_dim = index.config.shortlist_dim
    index.save(dest/'index-vision', meta={'run': str(dest.resolve()), 'data': meta['data'], 'modality': 'vision',
                                          'split': meta.get('split'), 'skipped': 0,
                                          'items': [items[i % len(items)] for i in range(n)]})
    m = min(n, len(base))
    cos = float(np.median(np.sum(emb[:m] * base[:m], axis=1)))
    return dict(n=n, real_items=len(base), dim=int(emb.shape[1]), shortlist_dim=shortlist_dim, shortlist_k=index.config.shortlist_k, kind=index.config.kind,
                noise_norm=noise, median_cos_to_real=round(cos, 4), build_s=round(time.perf_counter() - t, 2),
                widths=sorted({*model.config.mrl_dims, model.config.dim}), full_width=model.config.dim)


def code_version() -> dict:
    "The commit and the hash of `edgeglass/serve.py` as measured (it may hold uncommitted changes)."
    import hashlib
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=root).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'edgeglass'], capture_output=True, text=True, cwd=root).stdout.strip()
    f = root/'edgeglass'/'serve.py'
    return dict(commit=head or None, edgeglass_uncommitted_changes=bool(dirty),
                serve_py_sha256=hashlib.sha256(f.read_bytes()).hexdigest()[:16] if f.is_file() else None)


def captions_of(data:str) -> list[str]:
    from edgeglass.data import load_manifest
    return sorted(set(load_manifest(data, skip_bad=True)['text']))


# ---------------------------------------------------------------- the server process
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def cli_has_serve() -> bool:
    r = subprocess.run([EDGEGLASS, 'serve', '--help'], capture_output=True, text=True)
    return r.returncode == 0 and '--run' in r.stdout


def server_command(run:Path, port:int) -> tuple[list[str], str]:
    if cli_has_serve():
        return [EDGEGLASS, 'serve', '--run', str(run), '--host', '127.0.0.1', '--port', str(port)], 'cli'
    code = f'from edgeglass.serve import serve; serve({str(run)!r}, None, "127.0.0.1", {port})'
    return [sys.executable, '-c', code], 'python -c (the CLI had no serve command yet)'


def rss_mb(pid:int) -> dict:
    "The process's resident memory now and at its peak, in MB (Linux)."
    try: return {k: round(proc_kb(f, pid) / 1024, 1) for k, f in (('rss_mb', 'VmRSS'), ('peak_rss_mb', 'VmHWM'))}
    except (OSError, RuntimeError): return {}


def start_server(cmd:list[str], base:str, log:Path, timeout:float=600) -> tuple[subprocess.Popen, float]:
    "Start the server; (process, seconds until /api/health answered 200)."
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log.open('w'), stderr=subprocess.STDOUT, env=os.environ.copy())
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f'the server exited with {proc.returncode} before answering:\n{log.read_text()[-4000:]}')
        try:
            if requests.get(f'{base}/api/health', timeout=2).status_code == 200: return proc, time.perf_counter() - t0
        except requests.RequestException: pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f'the server did not answer /api/health within {timeout:.0f} s:\n{log.read_text()[-4000:]}')


def stop_server(proc:subprocess.Popen, timeout:float=15) -> dict:
    "SIGTERM, then wait: {exited, returncode, seconds}; killed after `timeout`."
    t = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout)
        return dict(exited=True, returncode=rc, exit_s=round(time.perf_counter() - t, 3))
    except subprocess.TimeoutExpired:
        proc.kill(); proc.wait()
        return dict(exited=False, returncode=None, exit_s=None, note=f'still running {timeout:.0f} s after SIGTERM; killed')


def help_time(args:list[str], repeats:int=5) -> dict:
    "Median wall time of `edgeglass ARGS` as a fresh process."
    ts, rc = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        rc = subprocess.run([EDGEGLASS, *args], capture_output=True).returncode or rc
        ts.append(time.perf_counter() - t)
    return dict(command=' '.join(['edgeglass', *args]), median_s=round(statistics.median(ts), 3),
                min_s=round(min(ts), 3), max_s=round(max(ts), 3), returncode=rc)


# ---------------------------------------------------------------- load
def good_body(rng:random.Random, captions:list[str], width:int|None=None) -> dict:
    b = {'text': rng.choice(captions), 'k': 10, 'modality': 'image'}
    if width is not None: b['width'] = width
    return b


def bad_request(i:int, rng:random.Random, captions:list[str]) -> tuple[str, dict]:
    "(kind, keyword arguments of `Session.post`) of a bad search request."
    kind = BAD_KINDS[i % len(BAD_KINDS)]
    b = good_body(rng, captions)
    if kind == 'empty text': b['text'] = ''
    elif kind == 'k=0': b['k'] = 0
    elif kind == 'width=7': b['width'] = 7
    elif kind == 'unknown modality': b['modality'] = 'smell'
    else: return kind, {'data': b'{"text": "a red circle", ', 'headers': {'Content-Type': 'application/json'}}
    return kind, {'json': b}


def one_request(session:requests.Session, url:str, kwargs:dict) -> dict:
    "POST and classify: status, latency, the server's ms, whether the body has 'error', how many results."
    t = time.perf_counter()
    try:
        r = session.post(url, timeout=120, **kwargs)
        lat = time.perf_counter() - t
        try: body = r.json()
        except ValueError: body = None
        return dict(status=r.status_code, latency=lat, ms=(body or {}).get('ms') if isinstance(body, dict) else None,
                    has_error=isinstance(body, dict) and isinstance(body.get('error'), str),
                    n_results=len(body['results']) if isinstance(body, dict) and isinstance(body.get('results'), list) else None)
    except requests.RequestException as e:
        return dict(status=None, latency=time.perf_counter() - t, exc=type(e).__name__)


def pct(xs:list[float], q:float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float('nan')


def run_load(base:str, captions:list[str], clients:int, per_client:int, bad_every:int|None, seed:int) -> dict:
    "`clients` threads x `per_client` searches each (every `bad_every`-th one bad, if given); the tallies."
    url, barrier = f'{base}/api/search', threading.Barrier(clients)

    def client(c:int) -> list[dict]:
        rng, out = random.Random(seed * 1000 + c), []
        with requests.Session() as s:
            s.trust_env = False
            barrier.wait()
            for j in range(per_client):
                if bad_every and (j + c) % bad_every == 0:
                    kind, kw = bad_request(j // bad_every + c, rng, captions)
                else: kind, kw = 'good', {'json': good_body(rng, captions)}
                out.append(one_request(s, url, kw) | {'kind': kind})
        return out

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex: rows = [r for rs in ex.map(client, range(clients)) for r in rs]
    wall = time.perf_counter() - t
    good = [r for r in rows if r['kind'] == 'good']
    bad = [r for r in rows if r['kind'] != 'good']
    ok_good = [r for r in good if r['status'] == 200 and r['n_results'] == 10]
    lat = [r['latency'] * 1000 for r in good]
    res = dict(clients=clients, requests_per_client=per_client, requests=len(rows), wall_s=round(wall, 2),
               requests_per_s=round(len(rows) / wall, 1),
               good=len(good), good_ok=len(ok_good), errors=sum(r['status'] != 200 for r in good),
               server_5xx=sum((r['status'] or 0) >= 500 for r in rows),
               connection_errors=sum(r['status'] is None for r in rows),
               p50_ms=round(pct(lat, 50), 1), p90_ms=round(pct(lat, 90), 1), p99_ms=round(pct(lat, 99), 1),
               max_ms=round(max(lat), 1) if lat else None,
               server_ms_p50=round(pct([r['ms'] for r in ok_good if r.get('ms') is not None], 50), 1))
    if bad_every:
        res['bad'] = len(bad)
        res['bad_4xx_with_error'] = sum(r['status'] is not None and 400 <= r['status'] < 500 and r['has_error'] for r in bad)
        res['bad_by_kind'] = {k: dict(n=sum(r['kind'] == k for r in bad),
                                      statuses=sorted({r['status'] for r in bad if r['kind'] == k}, key=str))
                              for k in BAD_KINDS}
        res['all_checks_pass'] = (res['bad_4xx_with_error'] == len(bad) and len(ok_good) == len(good)
                                  and res['server_5xx'] == 0 and res['connection_errors'] == 0)
    return res


def sequential(base:str, captions:list[str], n:int, width:int|None, seed:int) -> dict:
    "One client, `n` searches one after another (after 5 warm-up requests): latency p50/p99."
    rng, rows = random.Random(seed), []
    with requests.Session() as s:
        s.trust_env = False
        for _ in range(5): one_request(s, f'{base}/api/search', {'json': good_body(rng, captions, width)})
        for _ in range(n): rows.append(one_request(s, f'{base}/api/search', {'json': good_body(rng, captions, width)}))
    lat = [r['latency'] * 1000 for r in rows if r['status'] == 200]
    return dict(width=width, requests=n, errors=sum(r['status'] != 200 for r in rows), p50_ms=round(pct(lat, 50), 1),
                p99_ms=round(pct(lat, 99), 1), server_ms_p50=round(pct([r['ms'] for r in rows if r.get('ms') is not None], 50), 1))


# ---------------------------------------------------------------- report
def print_table(res:dict):
    s, ix = res['server'], res['index']
    print(f"\n== edgeglass serve: {ix['n']:,} image items x {ix['dim']} ({res['run_kind']}), server started via {s['started_via']}")
    print(f"startup to /api/health 200: {s['startup_s']:.1f} s   RSS after load {s.get('rss_after_load', {}).get('rss_mb', '?')} MB   "
          f"edgeglass --help {res['cli']['help']['median_s']:.2f} s   search --help {res['cli']['search_help']['median_s']:.2f} s")
    print(f"{'load':<34}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'server p50':>11}{'errors':>8}")
    for name, r in [(f"{res['load']['clients']} clients, full width", res['load'])] + \
                   [(f"1 client, width {w['width']}", w) for w in res['sequential']] + \
                   [(f"{res['load_bad']['clients']} clients, 20% bad", res['load_bad'])]:
        rps = f"{r['requests_per_s']:.1f}" if 'requests_per_s' in r else '-'
        print(f"{name:<34}{r['requests']:>9}{rps:>8}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
              f"{r['server_ms_p50']:>11.1f}{r['errors']:>8}")
    b = res['load_bad']
    print(f"bad requests: {b['bad_4xx_with_error']}/{b['bad']} got a 4xx with 'error'; good: {b['good_ok']}/{b['good']} got 200 "
          f"with 10 results; 5xx {b['server_5xx']}, connection errors {b['connection_errors']}; "
          f"health after: {res['health_after_bad_load']}; checks {'PASS' if b['all_checks_pass'] else 'FAIL'}")
    st = res['shutdown']
    print(f"SIGTERM: exited={st['exited']} rc={st['returncode']} in {st['exit_s']} s")


@call_parse
def main(quick:bool=False, # CI size: a tiny run, 2,000 items, 2 clients x 20 requests
         n:int=100_000, # items in the image index (full run)
         clients:int=8, # concurrent clients (full run)
         per_client:int=200, # requests per client (full run)
         warm:int=100, # sequential requests per width, one client
         noise:float=0.25, # norm of the gaussian noise added to each tiled unit embedding
         run_dir:str=None, # the demo run to train or reuse (default: ~/.cache/edgeglass/bench/serve-demo-run)
         seed:int=0, # noise and query seed
         out:str=None, # the JSON result (default: bench/results/serve.json)
        ):
    "Benchmark `edgeglass serve`: startup, search latency and throughput under load, bad requests, shutdown."
    if quick: n, clients, per_client, warm = 2000, 2, 20, 20
    out = Path(out) if out else RESULTS/'serve.json'
    run_dir = Path(run_dir).expanduser() if run_dir else Path.home()/'.cache'/'edgeglass'/'bench'/'serve-demo-run'
    t_all = time.perf_counter()
    machine, code = machine_info(requests=requests.__version__), code_version()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, load average {machine['load_average_at_start']}", flush=True)
    if not quick: run_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix='bench-serve-', dir=None if quick else run_dir.parent))
    proc = None
    try:
        run, train_s = stage1_run(run_dir, quick, scratch)
        data = json.loads((run/'summary.json').read_text())['data']
        t = time.perf_counter()
        real = real_indexes(run, data)
        real_s = time.perf_counter() - t
        print(f'run {run}: real indexes {real} ({real_s:.1f} s)', flush=True)
        big = scratch/f'run-{n}'
        index = tiled_copy(run, big, n, noise, seed)
        print(f"copy {big}: index-vision of {n:,} x {index['dim']} (tiled from {index['real_items']} real embeddings, "
              f"median cos to the real one {index['median_cos_to_real']}) in {index['build_s']:.1f} s", flush=True)
        captions = captions_of(data)

        cli = dict(help=help_time(['--help']), search_help=help_time(['search', '--help']))
        print(f"edgeglass --help {cli['help']['median_s']} s, edgeglass search --help {cli['search_help']['median_s']} s", flush=True)

        port = free_port()
        base = f'http://127.0.0.1:{port}'
        cmd, via = server_command(big, port)
        print(f"starting: {' '.join(cmd)}", flush=True)
        proc, startup = start_server(cmd, base, scratch/'server.log')
        health = requests.get(f'{base}/api/health', timeout=10).json()
        server = dict(command=' '.join(cmd), started_via=via, startup_s=round(startup, 2), health=health, rss_after_start=rss_mb(proc.pid))
        print(f'server up in {startup:.1f} s: {health}', flush=True)

        load = run_load(base, captions, clients, per_client, None, seed)
        server['rss_after_load'] = rss_mb(proc.pid)
        print(f"load: {load['requests']} requests, {load['requests_per_s']} req/s, p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, "
              f"errors {load['errors']}", flush=True)
        seq = []
        for w in [None] + [w for w in index['widths'] if w != index['full_width']]:
            seq.append(sequential(base, captions, warm, w, seed + 1) | ({'width': index['full_width']} if w is None else {}))
            print(f"1 client, width {seq[-1]['width']}: p50 {seq[-1]['p50_ms']} ms, p99 {seq[-1]['p99_ms']} ms", flush=True)
        load_bad = run_load(base, captions, clients, per_client, 5, seed + 2)
        hr = requests.get(f'{base}/api/health', timeout=10)
        health_after = hr.status_code == 200 and hr.json().get('status') == 'ok'
        server['rss_at_end'] = rss_mb(proc.pid)
        shutdown = stop_server(proc); proc = None
        server['log_tail'] = (scratch/'server.log').read_text()[-2000:]

        res = dict(benchmark='edgeglass serve: startup, search under concurrent load, bad requests, SIGTERM',
                   quick=quick, run_kind='tiny random-encoder run (RunConfig.tiny)' if quick else 'demo run (edgeglass demo)',
                   run=str(run), data=data, train_s=round(train_s, 1), real_indexes=real, real_indexes_s=round(real_s, 1),
                   index=index | dict(vectors=f'the run\'s {index["real_items"]} real image embeddings tiled to {n:,} rows '
                                                f'plus gaussian noise of norm {noise}, re-normalised; items cycle over the real image paths'),
                   queries=f'{len(captions)} distinct captions of the run\'s data, drawn at random; k=10, modality image',
                   cli=cli, server=server, load=load, sequential=seq, load_bad=load_bad, health_after_bad_load=health_after,
                   shutdown=shutdown, code=code, total_s=round(time.perf_counter() - t_all, 1), machine=machine)
        atomic_write_json(out, finish(res))
        print_table(res)
        print(f'\nwritten {out} in {res["total_s"]:.0f} s', flush=True)
    finally:
        if proc is not None and proc.poll() is None: proc.kill(); proc.wait()
        shutil.rmtree(scratch, ignore_errors=True)
