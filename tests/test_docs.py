"""The documentation site: nbdev/Quarto settings agree, and the offline site (tools/build_docs.py, the same
notebooks rendered by Sphinx + MyST-NB) builds, serves on 127.0.0.1 and renders in headless Chromium.

Screenshots of every page go to test_artifacts/docs/. To check a site built by `bash scripts/docs.sh`
instead of building one here: `EDGEGLASS_DOCS_SITE=_site pytest tests/test_docs.py`."""
import configparser, contextlib, functools, html.parser, importlib.util, io, os, re, shutil, subprocess, sys, tempfile
import threading, urllib.error, urllib.parse, urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest, yaml

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT/'test_artifacts'/'docs'
_spec = importlib.util.spec_from_file_location('build_docs', ROOT/'tools'/'build_docs.py')
bd = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(bd)

NBS = bd.notebooks()
PAGES = dict(zip(bd.page_names(NBS), NBS))  # page -> notebook, in site order (index first)
CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage', '--window-size=1280,1000']

def _settings():
    p = configparser.ConfigParser(); p.read(ROOT/'settings.ini'); return p['DEFAULT']

# --- nbdev / Quarto side: what `nbdev_docs` reads where Quarto exists ----------------------------------

def test_quarto_files_complete():
    s = _settings()
    q = yaml.safe_load((ROOT/'nbs'/'_quarto.yml').read_text())
    assert yaml.safe_load((ROOT/'_quarto.yml').read_text()) == q, 'the top-level _quarto.yml must match nbs/_quarto.yml'
    assert q['project']['type'] == 'website' and set(q['metadata-files']) == {'nbdev.yml', 'sidebar.yml'}
    assert (ROOT/'nbs'/q['format']['html']['css']).exists()
    assert s['git_url'] in [o.get('href') for o in q['website']['navbar']['right']]
    for k in ['title', 'doc_host', 'doc_baseurl', 'git_url', 'branch', 'description']: assert s.get(k), k
    assert s['doc_baseurl'].startswith('/') and s['git_url'].endswith('/' + s['repo'])
    assert s.get('custom_sidebar', 'False') == 'False', 'nbdev_docs writes sidebar.yml in notebook order'

def test_nbdev_yml_is_what_nbdev_writes():
    "`nbdev_docs` rewrites nbs/nbdev.yml from settings.ini: the committed one must already be that text."
    from nbdev.config import get_config
    from nbdev.quarto import _nbdev_yml
    cfg = get_config(path=ROOT)
    vals = {k: cfg[k] for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}
    assert (ROOT/'nbs'/'nbdev.yml').read_text() == _nbdev_yml.format(doc_path=cfg.doc_path.name, **vals)

def test_sidebar_order_matches_nbdev():
    "The offline site's page order is the one `nbdev_sidebar` gives Quarto."
    from nbdev.quarto import nbdev_sidebar
    cwd = os.getcwd(); os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out: nbdev_sidebar.__wrapped__(printit=True, force=True)
    finally: os.chdir(cwd)
    quarto = yaml.safe_load(out.getvalue())['website']['sidebar']['contents']
    assert [Path(p).name for p in quarto if isinstance(p, str)] == [p.name for p in NBS]

# --- the offline site in a browser -----------------------------------------------------------------------

@pytest.fixture(scope='session')
def site(tmp_path_factory):
    if os.environ.get('EDGEGLASS_DOCS_SITE'): return Path(os.environ['EDGEGLASS_DOCS_SITE']).resolve()
    out = tmp_path_factory.mktemp('docs')/'_site'
    env = {**os.environ, 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '-q', '--out', str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f'docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}'
    return out

@pytest.fixture(scope='session')
def base_url(site):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown(); httpd.server_close()

@pytest.fixture(scope='session')
def browser():
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    driver_bin = shutil.which('chromedriver')
    if not (chromium and driver_bin):
        pytest.fail('headless Chromium is needed: apt-get install chromium chromium-driver (scripts/setup.sh does)')
    os.environ.setdefault('SE_OFFLINE', 'true')  # never let Selenium Manager download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    user_dir = tempfile.mkdtemp(prefix='edgeglass-chromium-')
    for f in CHROME_FLAGS + [f'--user-data-dir={user_dir}']: opts.add_argument(f)
    driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit(); shutil.rmtree(user_dir, ignore_errors=True)

_PAGE_JS = """
const main = document.querySelector('main article') || document.querySelector('main') || document.body;
const visible = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
const h1 = main.querySelector('h1');
const nav = [...document.querySelectorAll('nav.bd-docs-nav a.reference')].filter(visible)
            .map(a => new URL(a.href).pathname.split('/').pop());
const imgs = [...main.querySelectorAll('.cell_output img')];
return {
  title: h1 ? h1.innerText.replace(/#$/, '').trim() : null, doc_title: document.title,
  nav: nav, nav_visible: nav.length > 0,
  figures: imgs.filter(i => i.complete && i.naturalWidth > 0 && visible(i)).length, broken_imgs: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  api: [...main.querySelectorAll('div.api-doc')].filter(visible).length,
  api_heads: [...main.querySelectorAll('div.api-doc')].filter(d => d.querySelector('pre')).length,
  index_rows: main.querySelectorAll('div.notebook-index table tbody tr').length,
  build_errors: [...main.querySelectorAll('.docs-build-error')].map(e => e.innerText),
  text: main.innerText,
  header_bg: (h => h ? getComputedStyle(h).backgroundColor : 'no header')(document.querySelector('header.bd-header')),
  nav_beside: (() => { const n = document.querySelector('nav.bd-docs-nav'); return !!n &&
                 n.getBoundingClientRect().right <= main.getBoundingClientRect().left + 1; })(),
};
"""

@pytest.mark.parametrize('page', list(PAGES))
def test_page_renders(page, site, base_url, browser):
    nb = PAGES[page]
    try: status = _get(base_url + f'{page}.html')[0]
    except urllib.error.HTTPError as e: status = e.code
    assert status == 200, f'{page}.html (from {nb.name}) answers {status}'
    browser.get(base_url + f'{page}.html')
    r = browser.execute_script(_PAGE_JS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS/f'{page}.png'))
    title = re.sub(r'[`*]', '', bd.notebook_title(nb))  # the markdown title as text
    assert r['title'] == title, f'{page}.html shows title {r["title"]!r}, its notebook {title!r}'
    assert r['doc_title'].startswith(r['title'])
    # the sidebar lists every page in notebook order (the home page is the logo link and the first entry)
    assert r['nav_visible'] and [p for p in r['nav'] if p != 'index.html'] == [f'{p}.html' for p in PAGES if p != 'index']
    assert not r['broken_imgs'], f'images that did not load: {r["broken_imgs"]}'
    assert not r['build_errors'], f'{page}.html carries build errors: {r["build_errors"]}'
    # rendered, not raw: no markdown fences, no nbdev/quarto directives; the theme's layout and our CSS apply
    assert '```' not in r['text'] and '#|' not in r['text'] and 'show_doc(' not in r['text']
    assert r['nav_beside'], 'the sidebar does not sit beside the article: the stylesheets did not load'
    assert r['header_bg'] not in ('no header', 'rgba(0, 0, 0, 0)', 'rgb(255, 255, 255)', 'transparent'), r['header_bg']
    if page == 'index': assert r['index_rows'] == len(PAGES) - 1
    else: assert r['figures'] + r['api_heads'] >= 1, f'{page}.html has neither a figure nor an API block'

class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.links, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k): self.links.append(a[k])

def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r: return r.status, r.read()

def test_no_broken_internal_links(site, base_url):
    "Crawl every page reachable from the home page: each local href/src answers 200, each #anchor exists."
    todo, seen, pages, broken, anchors = [base_url + 'index.html'], set(), {}, [], []
    while todo:
        url = todo.pop()
        if url in seen: continue
        seen.add(url)
        try: status, body = _get(url)
        except urllib.error.HTTPError as e: status, body = e.code, b''
        if status != 200: broken.append((url, status)); continue
        if not url.endswith('.html'): continue
        p = _Links(); p.feed(body.decode('utf-8', 'replace')); pages[url] = p
        for l in p.links:
            target = urllib.parse.urljoin(url, l)
            if not target.startswith(base_url): continue
            target, frag = urllib.parse.urldefrag(target)
            if frag: anchors.append((url, target, urllib.parse.unquote(frag)))
            todo.append(target)
    assert not broken, f'broken internal links: {broken}'
    for p in PAGES: assert base_url + f'{p}.html' in pages, f'{p}.html is not reachable from the home page'
    missing = [(src, t, f) for src, t, f in anchors if t in pages and f not in pages[t].ids]
    assert not missing, f'links to anchors that do not exist: {missing[:20]}'
