"""Peak memory and wall time of `edgeglass demo`, run as a subprocess: a first run and a second one.

Run: `HF_HUB_OFFLINE=1 python bench/bench_demo.py` (about 5 minutes on 2 cores).

Each run is `edgeglass demo --out <temp folder>` in a child process with its own cache root
(`EDGEGLASS_CACHE`, a temporary folder): the **first** run builds the demo data (easy-vqa images, espeak-ng
speech), extracts the frozen-backbone features, trains and evaluates; the **second** run, on the same
cache root, finds the data and the features there and only trains and evaluates. The converted offline
models (`models/` of the user cache) are linked into the temporary root, since converting them is a one-off
of installation, not of a demo run (`--fresh_models` converts them again, inside the first run).

Peak memory is the child's maximum resident set size (`ru_maxrss` from `os.wait4`: the largest of the
child and the processes it waited for, e.g. espeak-ng). Wall time is measured around the child. Writes
`bench/results/demo.json` with the test retrieval of each run (it must not depend on the cache) and the tables each
run printed (`printed`: the retrieval table beside the probes, then the label-aware one).
"""
from __future__ import annotations
import json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

from fastcore.script import call_parse, store_true

from common import finish, machine_info
from edgeglass.utils import atomic_write_json, cache_dir

def edgeglass_command() -> list[str]:
    "The `edgeglass` console script beside this Python, else the CLI's `main` through this Python."
    exe = Path(sys.executable).parent/'edgeglass'
    return [str(exe)] if exe.exists() else [sys.executable, '-c', 'import sys; from edgeglass.cli import main; sys.exit(main())']

def run_demo(args:list[str], env:dict, log:Path) -> dict:
    "Run `edgeglass demo ARGS` to completion: wall seconds, peak RSS in MB, exit code; its output goes to `log`."
    with open(log, 'w') as f:
        t = time.perf_counter()
        p = subprocess.Popen(edgeglass_command() + ['demo'] + args, stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
    p.returncode = code = os.waitstatus_to_exitcode(status)
    return {'wall_s': round(wall, 1), 'peak_rss_mb': round(usage.ru_maxrss / 1024, 1), 'exit_code': code,
            'user_cpu_s': round(usage.ru_utime, 1), 'system_cpu_s': round(usage.ru_stime, 1)}

def headline(metrics:dict) -> dict:
    "Test R@1 / R@10 at full width for each retrieval direction of a run's metrics.json."
    return {d: {k: round(w['full'][k], 3) for k in ('R@1', 'R@10')} for d, w in metrics.get('retrieval', {}).items() if 'full' in w}

@call_parse
def main(n_train:int=600, # demo training items (edgeglass demo's default)
         n_test:int=200, # demo test items
         epochs:int=None, # training epochs (None: the demo's default schedule)
         threads:int=0, # OMP_NUM_THREADS for the child (0: leave the environment's)
         fresh_models:store_true=False, # also convert the offline models again in the first run
         keep:str=None, # copy the second run's folder here (e.g. to index it later)
         out:str='bench/results/demo.json', # where the JSON goes
        ):
    "Run `edgeglass demo` twice in child processes (first run, then with data and features cached); print and save."
    work = Path(tempfile.mkdtemp(prefix='bench_demo_'))
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'EDGEGLASS_CACHE': str(work/'cache'), 'PYTHONUNBUFFERED': '1'}
    if threads: env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    (work/'cache').mkdir()
    if not fresh_models and cache_dir('models').exists(): (work/'cache'/'models').symlink_to(cache_dir('models'))
    args = ['--n_train', str(n_train), '--n_test', str(n_test)] + (['--epochs', str(epochs)] if epochs else [])
    res = {'benchmark': 'edgeglass demo: peak memory and wall time', 'n_train': n_train, 'n_test': n_test, 'epochs': epochs,
           'child_threads': env.get('OMP_NUM_THREADS', 'default (all cores)'), 'models_converted_in_run': fresh_models,
           'machine': machine_info(), 'runs': {}}
    try:
        for name in ('first run', 'second run'):
            run = work/name.replace(' ', '_')
            print(f'{name}: edgeglass demo --out {run.name} ...', flush=True)
            r = run_demo(args + ['--out', str(run)], env, work/f'{run.name}.log')
            if r['exit_code'] != 0:
                raise SystemExit(f'{name} failed (exit {r["exit_code"]}); its output:\n' + (work/f'{run.name}.log').read_text()[-3000:])
            r['retrieval'] = headline(json.loads((run/'metrics.json').read_text()))
            log = (work/f'{run.name}.log').read_text().splitlines()
            r['printed'] = log[next((i for i, l in enumerate(log) if l.startswith('direction')), len(log)):]   # the tables the demo printed
            res['runs'][name] = r
            print(f'  {r["wall_s"]:.0f} s, peak RSS {r["peak_rss_mb"]:.0f} MB', flush=True)
        first, second = res['runs']['first run'], res['runs']['second run']
        res['first_vs_second'] = {'wall': round(first['wall_s'] / second['wall_s'], 2), 'peak_rss': round(first['peak_rss_mb'] / second['peak_rss_mb'], 2)}
        if keep:
            shutil.rmtree(keep, ignore_errors=True); shutil.copytree(work/'second_run', keep)
            res['kept_run'] = keep
    finally: shutil.rmtree(work, ignore_errors=True)
    print(f'\n{"run":<14}{"wall s":>9}{"peak RSS MB":>13}{"CPU s":>9}   test R@1 (full width)')
    for name, r in res['runs'].items():
        print(f'{name:<14}{r["wall_s"]:>9.0f}{r["peak_rss_mb"]:>13.0f}{r["user_cpu_s"] + r["system_cpu_s"]:>9.0f}   '
              + ', '.join(f'{d} {v["R@1"]:.3f}' for d, v in r['retrieval'].items()))
    print(f'first / second run: {res["first_vs_second"]["wall"]}x the wall time, {res["first_vs_second"]["peak_rss"]}x the peak memory')
    atomic_write_json(Path(out), finish(res))
    print(f'wrote {out}')
