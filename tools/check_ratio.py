"""Share of exported notebook cells followed by a check (a code cell that is not exported, not only imports and not
`show_doc`) before the next exported cell; import-only exported cells are not counted."""
import json, re, sys
from pathlib import Path

EXPORT = re.compile(r'^#\|\s*export', re.M)

def _only_imports(body:str) -> bool:
    "True for an empty cell or one of import lines only."
    return all(l.startswith(('import ', 'from ', ' ', ')')) or not l.strip() for l in body.splitlines())

def cells(nb:Path):
    "(kind, source) of each code cell; kind is 'export', 'check' or 'other'."
    for c in json.loads(nb.read_text())['cells']:
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source'])
        body = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if EXPORT.search(src): yield ('imports' if _only_imports(body) else 'export'), src
        elif _only_imports(body) or 'nbdev_export' in body or body.startswith('show_doc'): yield 'other', src
        else: yield 'check', src

def ratio(nb:Path) -> tuple[int, int]:
    "(exported cells, those followed by a check before the next exported cell)."
    ks = [k for k, _ in cells(nb)]
    exp = [i for i, k in enumerate(ks) if k == 'export']
    ks = ['export' if k == 'imports' else k for k in ks]
    checked = 0
    for j, i in enumerate(exp):
        nxt = exp[j + 1] if j + 1 < len(exp) else len(ks)
        checked += any(k == 'check' for k in ks[i + 1:nxt])
    return len(exp), checked

if __name__ == '__main__':
    tot = chk = 0
    for nb in sorted(Path(sys.argv[1] if len(sys.argv) > 1 else 'nbs').glob('*.ipynb')):
        n, c = ratio(nb)
        if n: print(f'{nb.name:<28} {c:>3}/{n:<3} {c / n:.0%}')
        tot, chk = tot + n, chk + c
    print(f'{"all":<28} {chk:>3}/{tot:<3} {chk / max(tot, 1):.0%}')
