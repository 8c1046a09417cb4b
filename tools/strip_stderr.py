"""Drop stderr stream outputs (progress bars, load warnings) from saved notebooks: they change on every run.
Run after `exec_nb`: `python tools/strip_stderr.py nbs/*.ipynb`, then `nbdev_clean`."""
import json, sys

for f in sys.argv[1:]:
    nb = json.load(open(f))
    n = 0
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        keep = [o for o in c.get('outputs', []) if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
        n += len(c['outputs']) - len(keep)
        c['outputs'] = keep
    if n:
        with open(f, 'w') as fh: json.dump(nb, fh, indent=1, ensure_ascii=False); fh.write('\n')
        print(f'{f}: {n} stderr output(s) dropped')
