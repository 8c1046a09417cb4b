"""Render `nbs/index.ipynb` to `README.md` without Quarto (which `nbdev_readme` needs and these machines lack).

Markdown cells are copied, visible code cells become fenced Python blocks with their text outputs,
and `#| hide` cells are left out. Run from the repository root: `python tools/make_readme.py`."""
import json, re, sys
from pathlib import Path

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def render(nb_path='nbs/index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'markdown':
            # nbdev's `> summary` under the title becomes a quote line in the README
            out.append(src)
        elif cell['cell_type'] == 'code':
            if re.search(r'^#\|\s*hide\b', src, re.M): continue
            code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|'))
            out.append(f'```python\n{code}\n```')
            for o in cell.get('outputs', []):
                text = o.get('text') or o.get('data', {}).get('text/plain')
                if text: out.append('    ' + ''.join(text).replace('\n', '\n    '))
    return '\n\n'.join(out).rstrip() + '\n'

if __name__ == '__main__':
    readme = render()
    if '--check' in sys.argv:
        if Path('README.md').read_text() != readme: sys.exit('README.md is out of date: run python tools/make_readme.py')
    else: Path('README.md').write_text(readme)
