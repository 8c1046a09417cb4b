"""What every benchmark records beside its numbers: the machine, the software, the threads, the load, the command.

Imported by the `bench/*.py` scripts (run from the repository root as `python bench/<name>.py`, so this
folder is on `sys.path`).
"""
from __future__ import annotations
import os, platform, shlex, sys, time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent/'results'

def cpu_model() -> str:
    "The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def machine_info(**extra) -> dict:
    "CPU model and cores, memory, OS, Python, torch and its threads, the load average now; `extra` added."
    import torch
    info = {'cpu': cpu_model(), 'cores': os.cpu_count(), 'platform': platform.platform(), 'python': platform.python_version(),
            'torch': torch.__version__, 'torch_threads': torch.get_num_threads(), 'load_average_at_start': round(os.getloadavg()[0], 2)}
    try: info['memory_gb'] = round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1)
    except (ValueError, OSError): pass
    if torch.cuda.is_available(): info['gpu'] = torch.cuda.get_device_name(0)
    return info | extra

def torch_threads() -> int:
    "Set torch's threads to `OMP_NUM_THREADS` where it is set, else to at most 2; returns the number."
    import torch
    n = int(os.environ.get('OMP_NUM_THREADS', 0)) or min(2, os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n

def command_line() -> str:
    "How this script was run, as a command to paste (from the repository root)."
    script = Path(sys.argv[0])
    try: script = script.resolve().relative_to(Path.cwd())
    except ValueError: pass
    return ' '.join(['python', shlex.quote(str(script))] + [shlex.quote(a) for a in sys.argv[1:]])

def proc_kb(field:str, # a /proc/<pid>/status field in kB: VmRSS (resident now), VmHWM (peak resident)
            pid:int|str='self', # the process
           ) -> int:
    "A memory field of a process's /proc status, in kB (Linux)."
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith(field + ':'): return int(line.split()[1])
    raise RuntimeError(f'/proc/{pid}/status has no {field}')

def finish(res:dict) -> dict:
    "Add the load average at the end, the command and the date to a result."
    res.setdefault('machine', {})['load_average_at_end'] = round(os.getloadavg()[0], 2)
    res['command'] = command_line()
    res['date'] = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    return res
