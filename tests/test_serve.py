"""`edgeglass serve` as a client sees it: a real server on a free local port, its JSON API (search by caption, image
and audio; ask; health; items; bad uploads; path escapes; concurrent requests), the UI in headless Chromium, and
SIGTERM. The run is the tiny random one (Stage 1, then Stage 2 over it), so the answers are plumbing, not quality."""
import json, os, signal, socket, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from edgeglass.cache import FeatureCache
from edgeglass.stage1 import RunConfig, run_align
from edgeglass.stage2 import VLMRunConfig, run_vlm
from edgeglass.testing import shapes_manifest

EXE = Path(sys.executable).parent / "edgeglass"
SHOTS = Path(os.environ.get("EDGEGLASS_SCREENSHOTS", "")) if os.environ.get("EDGEGLASS_SCREENSHOTS") else None

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    data = shapes_manifest(tmp / "data", n=24, test_every=3, size=32, vqa=True)
    cache = FeatureCache(tmp / "cache")
    run_align(data, tmp / "run1", RunConfig.tiny(), cache=cache, progress=False)
    run_vlm(data, tmp / "run1", tmp / "run2", VLMRunConfig.tiny(), cache=cache, progress=False)
    return data, tmp / "run1", tmp / "run2"

def start(run, *args, env=None):
    port = free_port()
    p = subprocess.Popen([str(EXE), "serve", "--run", str(run), "--port", str(port), *args],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if p.poll() is not None: raise AssertionError(f"server exited {p.returncode}: {p.stdout.read()[-3000:]}")
        try:
            if requests.get(url + "/api/health", timeout=1).status_code == 200: return p, url
        except requests.ConnectionError: time.sleep(0.2)
    p.kill(); raise AssertionError("server did not answer /api/health in 120 s")

def stop(p) -> int:
    p.send_signal(signal.SIGTERM)
    try: return p.wait(timeout=20)
    finally:
        if p.poll() is None: p.kill()

@pytest.fixture(scope="module")
def server(runs):
    data, _, run2 = runs
    p, url = start(run2, "--data", str(data), "--max-upload-mb", "1")
    yield url
    assert stop(p) == 0, "SIGTERM should end the server cleanly"

def test_health_and_search_by_text_image_audio(runs, server):
    data = runs[0]
    h = requests.get(server + "/api/health").json()
    assert h["status"] == "ok" and h["stage2"] is True and set(h["modalities"]) == {"image", "audio", "text"}
    assert h["items"] == 3 * 24                                    # every row's picture, tone and caption
    r = requests.post(server + "/api/search", json={"text": "a red circle", "k": 5, "width": 32, "modality": "image"}).json()
    assert r["width"] == 32 and r["ms"] > 0 and len(r["results"]) == 5
    assert all(x["modality"] == "image" and x["url"] == f"/api/item/{x['id']}" and "text" in x for x in r["results"])
    scores = [x["score"] for x in r["results"]]
    assert scores == sorted(scores, reverse=True)
    row = json.loads((data / "metadata.jsonl").read_text().splitlines()[0])
    img, wav = (data / row["image"]).read_bytes(), (data / row["audio"]).read_bytes()
    r = requests.post(server + "/api/search", files={"file": ("q.png", img)}, data={"k": "3", "modality": "text"}).json()
    assert r["query"] == "image" and [x["modality"] for x in r["results"]] == ["text"] * 3
    r = requests.post(server + "/api/search", files={"file": ("q.wav", wav)}, data={"k": "2", "modality": "image"}).json()
    assert r["query"] == "audio" and len(r["results"]) == 2
    # the picture itself, searched among pictures, finds itself first at full width
    r = requests.post(server + "/api/search", files={"file": ("q.png", img)}, data={"k": "1", "modality": "image"}).json()
    got = requests.get(server + r["results"][0]["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content == img

def test_ask(runs, server):
    img = next(runs[0].rglob("*.png")).read_bytes()
    r = requests.post(server + "/api/ask", files={"file": ("q.png", img)}, data={"question": "What shape is it?"})
    assert r.status_code == 200 and isinstance(r.json()["answer"], str) and r.json()["ms"] > 0
    r = requests.post(server + "/api/ask", files={"file": ("q.png", img)}, data={"question": " "})
    assert r.status_code == 400 and "question" in r.json()["error"]

def test_bad_requests_get_4xx_and_the_server_goes_on(runs, server):
    wav = next(runs[0].rglob("*.wav")).read_bytes()
    cases = [(dict(files={"file": ("x.png", b"\x89PNG\r\n\x1a\n broken")}), 415, "file"),
             (dict(files={"file": ("x.wav", b"RIFF....WAVEfmt junk")}), 415, "file"),
             (dict(files={"file": ("big.png", b"\0" * (2 * 2**20))}), 413, "limit"),
             (dict(files={"file": ("empty.png", b"")}), 400, "empty"),
             (dict(json={"text": ""}), 400, "text"),
             (dict(json={"text": "x", "k": 0}), 400, "k"),
             (dict(json={"text": "x", "width": 7}), 400, "width"),
             (dict(json={"text": "x", "modality": "video"}), 400, "modality"),
             (dict(data=b"not json", headers={"content-type": "application/json"}), 400, "body"),
             (dict(json=[1, 2]), 400, "body")]
    for kw, status, word in cases:
        r = requests.post(server + "/api/search", **kw)
        assert r.status_code == status and word in r.json()["error"], (kw.keys(), r.status_code, r.text[:200])
    r = requests.post(server + "/api/ask", files={"file": ("x.wav", wav)}, data={"question": "what?"})
    assert r.status_code == 415 and "image" in r.json()["error"]
    assert requests.get(server + "/api/health").json()["status"] == "ok"

def test_items_are_served_by_id_only(server):
    for path in ("/api/item/image-999", "/api/item/text--1", "/api/item/..%2F..%2Fetc%2Fpasswd", "/api/item/%2Fetc%2Fpasswd",
                 "/api/item/image-0%2F..%2F..%2Fetc%2Fpasswd", "/api/item/..%252F..%252Fetc%252Fpasswd"):
        r = requests.get(server + path)
        assert r.status_code == 404 and "root:" not in r.text, (path, r.status_code)
    assert requests.get(server + "/api/item/text-0").text                 # a caption is served as text

def test_concurrent_requests_all_answer(server):
    def one(i):
        return requests.post(server + "/api/search", json={"text": f"a shape number {i}", "k": 3, "modality": "image"}).status_code
    with ThreadPoolExecutor(8) as ex: codes = list(ex.map(one, range(48)))
    assert codes == [200] * 48

def test_stage1_run_cannot_ask_and_binds_localhost(runs):
    data, run1, _ = runs
    p, url = start(run1)                                                   # its index is built from the run's own training data
    try:
        img = next(data.rglob("*.png")).read_bytes()
        r = requests.post(url + "/api/ask", files={"file": ("q.png", img)}, data={"question": "what?"})
        assert r.status_code == 409 and "edgeglass vlm" in r.json()["error"]
        assert requests.get(url + "/api/health").json()["stage2"] is False
        out = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout if os.path.exists("/usr/bin/ss") else ""
        port = url.rsplit(":", 1)[1]
        assert not out or any(f"127.0.0.1:{port}" in l for l in out.splitlines()), out
    finally: assert stop(p) == 0

def test_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([str(EXE), "serve", "--run", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode != 0 and r.stderr.startswith("edgeglass serve: error: --run:") and len(r.stderr.strip().splitlines()) == 1

@pytest.mark.skipif(not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")), reason="Chromium not installed")
def test_ui_in_headless_chromium(runs, server, tmp_path):
    from serve_ui import drive
    data = runs[0]
    row = json.loads((data / "metadata.jsonl").read_text().splitlines()[0])
    out = SHOTS or tmp_path
    seen = drive(server, out, row["text"], data / row["image"], data / row["audio"], "What shape is in the image?")
    assert seen["text"] >= 1 and seen["image"] >= 1 and seen["audio"] >= 1 and "audio query" in seen["audio_status"]
    assert isinstance(seen["answer"], str) and seen["answer"]
    assert set(seen["screenshots"]) == {"serve_text.png", "serve_image.png", "serve_audio.png", "serve_ask.png"}
    assert all((out / s).stat().st_size > 10_000 for s in seen["screenshots"])

def test_bench_quick(tmp_path):
    "The short version of bench/bench_serve.py (a tiny run, 2,000 items, 2 clients): it runs and its checks pass."
    out = tmp_path / "serve.json"
    r = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "bench" / "bench_serve.py"), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["load_bad"]["all_checks_pass"] and res["load"]["errors"] == 0 and res["shutdown"]["returncode"] == 0
