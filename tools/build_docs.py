"""Render the notebooks in `nbs/` into a static documentation site, offline: `python tools/build_docs.py`.

`nbdev_docs` needs Quarto, which these machines cannot install. This script gives the same site
without it: every `nbs/*.ipynb` (by name, `index.ipynb` first, as nbdev's `sidebar.yml` orders them)
goes through nbdev's own notebook processors (`add_show_docs`, `hide_line`, `filter_stream`, ...),
`#| hide` cells are dropped, quarto cell options (`echo`, `output`, `include`, `code-fold`) become
MyST-NB cell tags, `show_doc` cells become API blocks rendered by `nbdev.showdoc.show_doc` from the
installed package, and backticked names link to their API block as on an nbdev site. Sphinx with
MyST-NB (`docs/conf.py`, execution off: pages show the outputs saved in the notebooks) then writes
the site to `_site/`, one page per notebook named as nbdev names it (`16_evaluate.ipynb` ->
`evaluate.html`). Run from anywhere; `--out DIR` picks the folder, `--strict` fails on Sphinx warnings.
"""
from __future__ import annotations
import argparse, ast, importlib, importlib.util, inspect, json, os, re, shutil, subprocess, sys, tempfile, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT/'docs'
_PAGE_PREFIX = re.compile(r'^\d+[a-zA-Z0-9]*_')  # nbdev's rule (nbdev.doclinks._nbpath2html)
_SHOW_DOC = re.compile(r'^\s*show_doc\(.*\)\s*$', re.S)
_TITLE = re.compile(r'^#\s+(.+?)\s*$', re.M)
_NB_LINK = re.compile(r'\]\((\d+[a-zA-Z0-9]*_[\w.-]+?)\.ipynb(#[^)]*)?\)')

def notebooks(nbs: Path | None = None) -> list[Path]:
    "The notebooks that become pages: `nbs/*.ipynb` by name, `index.ipynb` first (nbdev's sidebar order)."
    nbs = Path(nbs or ROOT/'nbs')
    files = [p for p in nbs.glob('*.ipynb') if p.name[0] not in '._']
    return sorted(files, key=lambda p: ('00' if p.stem == 'index' else p.stem, p.stem))

def page_name(nb: Path | str) -> str:
    "The page a notebook becomes, as nbdev names it: `06a_efficientnet.ipynb` -> `efficientnet`."
    return _PAGE_PREFIX.sub('', Path(nb).stem.lower())

def page_names(files: list[Path]) -> list[str]:
    "Page of each notebook, as nbdev names it; two notebooks that would become one page are an error, as on nbdev's site."
    names = [page_name(p) for p in files]
    if clash := sorted({n for n in names if names.count(n) > 1}):
        raise SystemExit(f'notebooks {[p.name for p in files if page_name(p) in clash]} would become the same page {clash}; rename one')
    return names

def _src(cell) -> str: return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def notebook_title(nb: Path) -> str:
    "The notebook's `# Title` (its file stem when it has none)."
    for cell in json.loads(Path(nb).read_text())['cells']:
        if cell['cell_type'] == 'markdown' and (m := _TITLE.search(_src(cell))): return m.group(1).strip()
    return Path(nb).stem

def notebook_summary(nb: Path) -> str:
    "The `> summary` line under the notebook's title ('' when it has none)."
    for cell in json.loads(Path(nb).read_text())['cells']:
        if cell['cell_type'] == 'markdown' and _TITLE.search(src := _src(cell)):
            m = re.search(r'^>\s*(.+?)\s*$', src[_TITLE.search(src).end():], re.M)
            return m.group(1) if m else ''
    return ''

# ---------------------------------------------------------------------------------------------------------
# API blocks from show_doc

def _lib() -> str:
    from nbdev.config import get_config
    return get_config().lib_name

def _module_ns(nb_cells) -> tuple[dict, str | None]:
    "Namespace that `show_doc(...)` cells of a notebook evaluate in: its `default_exp` module (or `{}`)."
    for c in nb_cells:
        if c.cell_type == 'code' and 'default_exp' in c.directives_:
            mod = f"{_lib()}.{c.directives_['default_exp'][0]}"
            try: return dict(vars(importlib.import_module(mod))), None
            except Exception as e: return {}, f'{mod} does not import: {type(e).__name__}: {e}'
    return {}, None

def _fallback(expr: str):
    "Evaluate `expr` in every loaded library module until one knows its names."
    lib = _lib()
    for name, mod in list(sys.modules.items()):
        if name == lib or name.startswith(lib + '.'):
            try: return eval(expr, dict(vars(mod)))
            except Exception: pass
    raise NameError(expr)

def _source_line(obj) -> int | None:
    try: return inspect.getsourcelines(inspect.unwrap(obj))[1]
    except Exception: return None

def api_block(expr: str, ns: dict) -> tuple[str, str]:
    "MyST markdown for `show_doc(...)` in `expr`, and the nbdev anchor id of its heading."
    from nbdev.showdoc import show_doc
    ns = {**ns, 'show_doc': show_doc}
    try: r = eval(expr, ns)
    except NameError: r = _fallback(expr)
    if r is None: raise ValueError(f'{expr} documents nothing')
    md = r._repr_markdown_().strip()
    md = re.sub(r'^---\s*', '', md)
    src = re.search(r'^\[source\]\((\S+?)\)(\{[^}]*\})?\s*$', md, re.M)
    src_html = ''
    if src:
        url, line = src.group(1), _source_line(getattr(r, 'fn', None))
        url = re.sub(r'#LNone$', f'#L{line}' if line else '', url)
        src_html = f'<a class="api-source reference external" href="{url}">source</a>\n\n'
        md = md[:src.start()] + md[src.end():]
    head = re.search(r'^(#+)\s+(.+?)\s*$', md, re.M)
    if not head: raise ValueError(f'{expr}: show_doc gave no heading')
    name, body = head.group(2), md[head.end():].strip()
    anchor = name.lower()
    from docutils.nodes import make_id
    pre = '' if make_id(name) == anchor else f'<a id="{anchor}" class="api-anchor"></a>\n\n'
    shown = name.replace('_', r'\_')
    text = (f'{pre}{head.group(1)} {shown}\n\n'
            f'`````{{container}} api-doc\n{src_html}{body}\n`````\n')
    return text, anchor

# ---------------------------------------------------------------------------------------------------------
# One notebook -> the notebook Sphinx renders

def _only_imports(src: str) -> bool:
    try: tree = ast.parse(src)
    except SyntaxError: return False
    return bool(tree.body) and all(isinstance(o, (ast.Import, ast.ImportFrom)) for o in tree.body)

_QUARTO_TAGS = {('echo:', 'false'): 'remove-input', ('output:', 'false'): 'remove-output',
                ('code-fold:', 'true'): 'hide-input', ('code-fold:', 'show'): 'hide-input'}

def _strip_directives(src: str) -> str:
    lines = src.splitlines()
    while lines and re.match(r'^\s*#\s*\|', lines[0]): lines.pop(0)
    return '\n'.join(lines)

def _md(text: str, **meta) -> dict: return {'cell_type': 'markdown', 'metadata': meta, 'source': text}

def prepare(nb_path: Path, warn=print) -> tuple[list[dict], set[str]]:
    "Cells of the page for `nb_path` (nbdev-processed, show_doc filled in) and the API anchors it defines."
    from nbdev.process import NBProcessor
    from nbdev.processors import (populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_,
                                  rm_header_dash, clean_magics)
    proc = NBProcessor(nb_path, procs=[populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_,
                                       rm_header_dash, clean_magics])
    proc.process()
    ns, ns_err = _module_ns(proc.nb.cells)
    cells, anchors, pending_src = [], set(), []
    def flush():
        cells.extend(pending_src); pending_src.clear()
    for c in proc.nb.cells:
        d = getattr(c, 'directives_', None) or {}
        src = c.get('source')
        if src is None: continue
        if c.cell_type == 'raw': continue
        if c.cell_type == 'markdown':
            flush(); cells.append(_md(src)); continue
        if d.keys() & {'hide', 'default_exp'} or d.get('include:') == ['false']: continue
        if getattr(c, 'has_sd', False) or _SHOW_DOC.match(_strip_directives(src)):
            expr = _strip_directives(src).strip()
            try:
                if ns_err: raise ImportError(ns_err)
                text, anchor = api_block(expr, ns)
                cells.append(_md(text)); anchors.add(anchor)
            except Exception as e:
                warn(f'{nb_path.name}: {expr}: {type(e).__name__}: {e}')
                cells.append(_md(f'```{{warning}}\n:class: docs-build-error\nThe API block `{expr}` could not be '
                                 f'rendered: {type(e).__name__}: {e}\n```\n'))
            continue
        flush()
        code = _strip_directives(src)
        tags = [t for (k, v), t in _QUARTO_TAGS.items() if d.get(k) == [v]]
        cell = {'cell_type': 'code', 'execution_count': None, 'metadata': {}, 'source': code,
                'outputs': [dict(o) for o in c.get('outputs', [])]}
        if d.keys() & {'export', 'exporti', 'exports'}:
            if _only_imports(code): continue
            # nbdev hides exported source behind its API block; here it follows the block, folded
            if 'exports' not in d: tags.append('hide-input')
            cell['metadata']['tags'] = sorted(set(tags))
            pending_src.append(cell); continue
        if tags: cell['metadata']['tags'] = sorted(set(tags))
        cells.append(cell)
    flush()
    if not any(c['cell_type'] == 'markdown' and _TITLE.search(c['source']) for c in cells):
        cells.insert(0, _md(f'# {nb_path.stem}'))
    return cells, anchors

# ---------------------------------------------------------------------------------------------------------
# Links

def _linker(pages: dict[str, set[str]]):
    "Function that turns `` `name` `` in a markdown line into a link to the name's API block, if the site has it."
    from nbdev.config import get_config
    from nbdev.doclinks import NbdevLookup, _re_backticks
    cfg = get_config()
    site = f"{cfg.doc_host}{cfg.doc_baseurl}".rstrip('/') + '/'
    lookup = NbdevLookup()
    where = {}  # anchor -> the one page that has it (nbdev's link may name another page, see `page_names`)
    for page, anchors in pages.items():
        for a in anchors: where[a] = None if a in where else page
    where = {a: p for a, p in where.items() if p}
    def link(m):
        name = m.group(1)
        url = lookup.doc(name)
        if not url: return m.group(0)
        shown = name + ('()' if m.group(0).endswith('()`') else '')
        if url.startswith(site):
            page, _, anchor = url[len(site):].partition('#')
            page = page.removesuffix('.html')
            if anchor not in pages.get(page, ()) and anchor in where: page = where[anchor]
            if page not in pages: return m.group(0)
            url = f'{page}.html' + (f'#{anchor}' if anchor in pages[page] else '')
            cls = 'reference internal'
        else: cls = 'reference external'
        shown = shown.replace('&', '&amp;').replace('<', '&lt;')
        return f'<a class="{cls}" href="{url}"><code class="docutils literal notranslate">{shown}</code></a>'
    def linkify(md: str) -> str:
        out, fence = [], None
        for line in md.splitlines():
            s = line.lstrip()
            if fence:
                if s.startswith(fence): fence = None
            elif m := re.match(r'(`{3,}|~{3,}|:{3,})', s): fence = m.group(1)
            elif not line.startswith('    ') and not s.startswith('#') and not s.startswith('<'):
                line = _re_backticks.sub(link, line)
            out.append(line)
        return '\n'.join(out)
    return linkify

def _nb_links(md: str, names: dict[str, str]) -> str:
    "`[x](01_perceiver.ipynb#y)` -> `[x](perceiver.ipynb#y)`: the page's source name in the site."
    def f(m):
        p = names.get(m.group(1))
        return f']({p}.ipynb{m.group(2) or ""})' if p else m.group(0)
    return _NB_LINK.sub(f, md)

# ---------------------------------------------------------------------------------------------------------
# The site

def _contents(files: list[Path], names: list[str]) -> list[dict]:
    "Cells closing the home page: a table of the notebooks in reading order, and the sidebar's toctree."
    esc = lambda s: s.replace('|', '\\|')
    rows = '\n'.join(f'| [{esc(notebook_title(p))}]({n}.ipynb) | {esc(notebook_summary(p))} |'
                     for p, n in zip(files, names) if n != 'index')
    toc = '\n'.join(n for n in names if n != 'index')
    return [_md(f'## Reading order\n\nEach page of this site is one notebook of `nbs/`; read them in this order.\n\n'
                f'````{{container}} notebook-index\n| notebook | what it is |\n|---|---|\n{rows}\n````\n'),
            _md(f'```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{toc}\n```\n')]

_META = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
         'language_info': {'name': 'python', 'pygments_lexer': 'ipython3'}}

def stage(src: Path, nbs: Path | None = None, warn=print) -> list[tuple[str, str]]:
    "Write the processed notebooks into `src` (a Sphinx source folder); returns (page, title) in site order."
    files = notebooks(nbs)
    names = page_names(files)
    for p, n in zip(files, names):
        if n != page_name(p): warn(f'{p.name}: nbdev names its page {page_name(p)}.html, which another notebook has; here it is {n}.html')
    if 'index' not in names: raise SystemExit('nbs/index.ipynb is missing: it is the home page')
    prepared = {}
    for p, n in zip(files, names):
        try: prepared[n] = prepare(p, warn=warn)
        except Exception as e:
            warn(f'{p.name}: could not be processed: {type(e).__name__}: {e}\n{traceback.format_exc()}')
            prepared[n] = ([_md(f'# {notebook_title(p)}\n\n```{{error}}\n:class: docs-build-error\n'
                               f'This notebook could not be processed: {type(e).__name__}: {e}\n```\n')], set())
    pages = {n: a for n, (_, a) in prepared.items()}
    linkify = _linker(pages)
    stems = {p.stem: n for p, n in zip(files, names)}
    for n, (cells, _) in prepared.items():
        for c in cells:
            if c['cell_type'] == 'markdown': c['source'] = _nb_links(linkify(c['source']), stems)
        if n == 'index': cells = cells + _contents(files, names)
        nb = {'cells': cells, 'metadata': _META, 'nbformat': 4, 'nbformat_minor': 4}
        (src/f'{n}.ipynb').write_text(json.dumps(nb, indent=1))
    return [(n, notebook_title(p)) for p, n in zip(files, names)]

def build(out: Path | str = ROOT/'_site', nbs: Path | None = None, strict: bool = False, quiet: bool = False) -> Path:
    "Build the site into `out` (replaced whole); returns `out`."
    out = Path(out).resolve()
    missing = [m for m in ('sphinx', 'myst_nb', 'sphinx_book_theme') if importlib.util.find_spec(m) is None]
    if missing: raise SystemExit(f'the docs build needs {missing}: pip install sphinx myst-nb sphinx-book-theme '
                                 '(bash scripts/setup.sh installs them)')
    warnings = []
    def warn(msg): warnings.append(msg); print(f'[docs] warning: {msg}', file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix='edgeglass-docs-') as tmp:
        tmp = Path(tmp); src = tmp/'src'; src.mkdir()
        os.chdir(ROOT)  # nbdev finds settings.ini from the working directory
        pages = stage(src, nbs, warn=warn)
        new = tmp/'html'
        cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(CONF_DIR), '-d', str(tmp/'doctrees'),
               '-j', 'auto', '-w', str(tmp/'sphinx-warnings.txt'), str(src), str(new)]
        if quiet: cmd.insert(3, '-q')
        if strict: cmd[3:3] = ['-W', '--keep-going']
        r = subprocess.run(cmd, cwd=ROOT)
        sphinx_warnings = (tmp/'sphinx-warnings.txt').read_text().strip() if (tmp/'sphinx-warnings.txt').exists() else ''
        if r.returncode: raise SystemExit(f'sphinx-build failed ({r.returncode})\n{sphinx_warnings}')
        if strict and warnings: raise SystemExit(f'{len(warnings)} warnings while processing the notebooks')
        shutil.rmtree(tmp/'html'/'.doctrees', ignore_errors=True)
        if out.exists(): shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(new), str(out))
    n_warn = len(warnings) + len(sphinx_warnings.splitlines())
    print(f'[docs] {len(pages)} pages in {out} ({n_warn} warnings); open {out/"index.html"}')
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_site'), help='output folder (replaced whole)')
    ap.add_argument('--nbs', default=None, help='notebook folder (default: nbs/)')
    ap.add_argument('--strict', action='store_true', help='fail on any warning')
    ap.add_argument('-q', '--quiet', action='store_true', help='less Sphinx output')
    a = ap.parse_args()
    build(a.out, a.nbs, a.strict, a.quiet)
