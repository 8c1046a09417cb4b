"""Drive the `edgeglass serve` UI in headless Chromium (Selenium) and save screenshots.

Used by tests/test_serve.py; also a script, for screenshots of any running server:
`python tests/serve_ui.py http://127.0.0.1:7860 OUTDIR --image IMG --audio WAV --caption "a red circle" [--ask "What shape?"]`.
"""
from __future__ import annotations
import argparse, shutil, tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM_FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-dev-shm-usage',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-size=1400,1150')

def browser(profile:Path):
    "Headless Debian Chromium (no network chatter: the machine's network is closed)."
    opts = Options()
    opts.binary_location = shutil.which('chromium') or '/usr/bin/chromium'
    for f in CHROMIUM_FLAGS: opts.add_argument(f)
    opts.add_argument(f'--user-data-dir={profile}')
    return webdriver.Chrome(service=Service(shutil.which('chromedriver') or '/usr/bin/chromedriver'), options=opts)

def _results(drv, timeout:float, before:str='') -> int:
    "Wait until the result grid shows cards different from `before`; returns how many."
    def ready(d):
        grid = d.find_elements(By.ID, 'eg-results')
        return grid and grid[0].get_attribute('innerHTML') != before and len(grid[0].find_elements(By.CLASS_NAME, 'eg-card'))
    return WebDriverWait(drv, timeout).until(ready)

def _grid(drv) -> str:
    g = drv.find_elements(By.ID, 'eg-results')
    return g[0].get_attribute('innerHTML') if g else ''

def _shot(drv, path:Path):
    "A screenshot of the page from its top."
    drv.execute_script('window.scrollTo(0, 0);')
    drv.save_screenshot(str(path))

def _upload(drv, elem_id:str, path:Path):
    "Send a file to the hidden <input type=file> of a Gradio component."
    drv.find_element(By.CSS_SELECTOR, f'#{elem_id} input[type=file]').send_keys(str(Path(path).resolve()))

def drive(url:str, out:Path, caption:str, image:Path, audio:Path|None=None, question:str|None=None, timeout:float=60) -> dict:
    "Search by caption, image and audio (and ask, when `question`); save a screenshot of each; returns what was seen."
    out.mkdir(parents=True, exist_ok=True)
    seen, profile = {}, Path(tempfile.mkdtemp(prefix='eg-chromium-'))
    drv = browser(profile)
    try:
        drv.get(url)
        box = WebDriverWait(drv, timeout).until(EC.element_to_be_clickable((By.CSS_SELECTOR, '#eg-text textarea')))
        box.send_keys(caption)
        drv.find_element(By.ID, 'eg-search').click()
        seen['text'] = _results(drv, timeout)
        _shot(drv, out/'serve_text.png')
        before = _grid(drv)
        box.clear()
        _upload(drv, 'eg-image', image)
        seen['image'] = _results(drv, timeout, before)
        _shot(drv, out/'serve_image.png')
        if audio is not None:
            drv.get(url)                                                  # a fresh page: no image left in its box
            WebDriverWait(drv, timeout).until(EC.element_to_be_clickable((By.ID, 'eg-search')))
            before = ''
            _upload(drv, 'eg-audio', audio)
            WebDriverWait(drv, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#eg-audio audio, #eg-audio .waveform-container, #eg-audio button'))
            drv.find_element(By.ID, 'eg-search').click()
            seen['audio'] = _results(drv, timeout, before)
            seen['audio_status'] = drv.find_element(By.ID, 'eg-status').text
            _shot(drv, out/'serve_audio.png')
        if question is not None:
            tab = drv.find_element(By.XPATH, "//button[@role='tab' and normalize-space()='Ask']")
            drv.execute_script('window.scrollTo(0, 0); arguments[0].click();', tab)
            _upload(drv, 'eg-ask-image', image)
            q = WebDriverWait(drv, timeout).until(EC.element_to_be_clickable((By.CSS_SELECTOR, '#eg-question textarea')))
            q.send_keys(question)
            drv.execute_script('arguments[0].click();', drv.find_element(By.ID, 'eg-ask'))
            ans = WebDriverWait(drv, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, '#eg-answer textarea').get_attribute('value'))
            seen['answer'] = ans
            _shot(drv, out/'serve_ask.png')
        seen['screenshots'] = sorted(p.name for p in out.glob('serve_*.png'))
        return seen
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('url'); p.add_argument('out', type=Path)
    p.add_argument('--caption', default='a red circle'); p.add_argument('--image', type=Path, required=True)
    p.add_argument('--audio', type=Path); p.add_argument('--ask')
    a = p.parse_args()
    print(drive(a.url, a.out, a.caption, a.image, a.audio, a.ask))
