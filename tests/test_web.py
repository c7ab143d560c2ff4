"""`callscribe serve`: HTTP and safety in-process (Starlette's TestClient), and a real headless Chromium on top.

The data folder holds the samples' real GSM audio (unpacked as the extract stage does) and synthetic
transcripts over it, so these tests need no transcription; test_index.py runs the real pipeline.
"""

import hashlib
import io
import shutil
import sys
from pathlib import Path

import pytest
import soundfile as sf

from bench import synthetic_calls
from callscribe.archive import extract
from callscribe.audio import decode
from callscribe.index import build
from callscribe.outputs import write_transcript
from callscribe.records import Transcript
from callscribe.search import clock
from tests.helpers import ARCHIVES

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from callscribe import cli  # noqa: E402
from callscribe.web import background  # noqa: E402
from callscribe.web.app import create_app  # noqa: E402

LONG = "calls_2025-09-16_2025-09-30/recordings/q-410-+13365550118-20250925-164625-1758833185.4698"  # 5:00, GSM 6.10 mono
SECRET = "top-secret-not-served"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    data = root / "data"
    extract(ARCHIVES, data / "audio")
    gen = synthetic_calls.Generator(11)
    row, t = gen.call(0, duration=300.0, stereo=False)
    wav = data / "audio" / f"{LONG}.WAV"
    row.update(id=LONG, archive=LONG.split("/")[0], name=wav.name, queue="410", caller="+13365550118", date="2025-09-25",
               start="2025-09-25T16:46:25", status="ok", sha256=hashlib.sha256(wav.read_bytes()).hexdigest(), duration=300.0)
    # One line the browser test searches for, two minutes in.
    hit = min(t["segments"], key=lambda s: abs(s["start"] - 121.0))
    hit["text"] = " The zebra crossing outside the depot was closed."
    (data / "output").mkdir(parents=True)
    write_transcript(Transcript.from_dict(t), data / "output" / "transcripts" / LONG, ["json", "txt", "srt", "vtt"])
    # Calls whose audio is a link out of the data folder, an absolute path, a path with `..`.
    outside = root / "secret.wav"
    sf.write(outside, [0.0] * 800, 8000)
    (root / "secret.txt").write_text(SECRET)
    (data / "audio" / "evil").mkdir()
    (data / "audio" / "evil" / "link.WAV").symlink_to(outside)
    evil = []
    for i, name in enumerate(["link.WAV", "../../secret.wav", str(outside)]):
        r, tr = gen.call(100 + i)
        r.update(id=f"evil/call{i}", name=name, status="no_speech", sha256=hashlib.sha256(name.encode()).hexdigest())
        evil.append((r, None))
    synthetic_calls.write(data / "output", 45, seed=11, start_at=1, extra=[(row, t), *evil])
    build(data / "output" / "calls.jsonl", data / "output" / "calls.db", data)
    return root, hit


@pytest.fixture(scope="module")
def opened():
    """Paths opened while a test watches (an audit hook: what the server reads, whatever the route does)."""
    seen, watching = [], [False]

    def hook(event, args):
        if watching[0] and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
            seen.append(str(args[0]))

    sys.addaudithook(hook)

    class Watch:
        def __enter__(self):
            seen.clear()
            watching[0] = True
            return seen

        def __exit__(self, *exc):
            watching[0] = False

    return Watch


@pytest.fixture(scope="module")
def client(project):
    root, _ = project
    app = create_app(root / "data", root / "data" / "output" / "calls.db", allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_search_page_shows_highlighted_hits_and_pages(client, project):
    r = client.get("/", params={"q": "zebra"})
    assert r.status_code == 200
    assert "<mark>zebra</mark>" in r.text and f"/call/{LONG.replace('+', '%2B')}?t=" in r.text
    r = client.get("/", params={"q": "claim"})
    assert r.text.count('class="hit"') == 20 and 'rel="next"' in r.text
    r2 = client.get("/", params={"q": "claim", "page": 2})
    assert r2.status_code == 200 and 'rel="prev"' in r2.text and r2.text != r.text
    r = client.get("/", params={"q": "claim", "queue": "999"})
    assert "Nothing matches" in r.text
    r = client.get("/", params={"q": '"unclosed'})
    assert r.status_code == 400 and "cannot read the query" in r.text and "Traceback" not in r.text
    r = client.get("/", params={"q": "claim", "from": "yesterday"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.text
    r = client.get("/")  # no query: the latest calls, newest first
    assert r.status_code == 200 and "Latest calls" in r.text


def test_call_page_has_transcript_fields_player_and_downloads(client, project):
    _, hit = project
    r = client.get(f"/call/{LONG}", params={"t": hit["start"], "seg": hit["id"]})
    assert r.status_code == 200
    assert f'data-start="{hit["start"]}"' in r.text and f'id="s{hit["id"]}" class="line spk-' in r.text
    assert "+13365550118" in r.text and "2025-09-25" in r.text and "410" in r.text
    assert 'class="spk-0"' in r.text and 'class="spk-1"' in r.text  # two speakers, two colours
    for fmt, needle in [("txt", "zebra crossing"), ("srt", "-->"), ("vtt", "WEBVTT"), ("json", '"segments"')]:
        d = client.get(f"/download/{fmt}/{LONG}")
        assert d.status_code == 200 and needle in d.text, fmt
        assert "attachment" in d.headers["content-disposition"]
    assert 'src="/static/call.js"' in r.text and "http" not in r.text.split("<body>")[0].replace('"/static', "")  # no CDN


def test_audio_is_pcm_wav_with_range_requests(client, project):
    root, _ = project
    r = client.get(f"/audio/{LONG}")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.headers["accept-ranges"] == "bytes"
    info = sf.info(io.BytesIO(r.content))
    assert (info.subtype, info.samplerate, info.channels) == ("PCM_16", 8000, 1)
    original, sr, _ = decode(root / "data" / "audio" / f"{LONG}.WAV")
    assert info.frames == original.shape[1] and sr == 8000 and info.duration > 299  # the whole call
    part = client.get(f"/audio/{LONG}", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == r.content[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(r.content)}"
    assert len(list((root / "data" / "web-cache").glob("*.wav"))) == 1  # transcoded once, cached


@pytest.mark.parametrize("path", [
    "/audio/../../secret.txt", "/audio/%2e%2e/%2e%2e/secret.txt", "/audio/%2E%2E%2F%2E%2E%2Fsecret.txt",
    "/audio//etc/passwd", "/audio/%2Fetc%2Fpasswd", "/download/txt/..%2F..%2Fsecret", "/download/txt//etc/passwd",
    "/download/exe/" + LONG, "/download/../../secret.txt", "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2Fapp.py",
    "/audio/evil/call0", "/audio/evil/call1", "/audio/evil/call2",  # index rows pointing outside: a link, `..`, absolute
    "/call/nope", "/call/%00", "/call/%2e%2e", "/call/'%20OR%201=1%20--", "/audio/" + "x" * 5000, "/call/%E2%80%AE%F0%9F%92%A5",
    "/audio/" + LONG + "/../../../secret.txt", "/audio/" + LONG + "%00.txt", "/download/txt/" + LONG + "/../../../../secret",
])
def test_only_files_in_the_data_folder_are_served(client, project, opened, path):
    root, _ = project
    with opened() as seen:
        r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert SECRET not in r.text
    assert not [p for p in seen if "secret" in p or p.startswith("/etc")], seen


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get(client, method):
    for path in ("/", f"/call/{LONG}", f"/audio/{LONG}"):
        assert client.request(method, path).status_code == 405


def test_other_host_names_are_refused(client):
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding


def test_another_interface_needs_a_flag_then_a_token(project, capsys):
    assert cli.main(["serve", "--host", "0.0.0.0", "--data", str(project[0] / "data")]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    root, _ = project
    app = create_app(root / "data", root / "data" / "output" / "calls.db", token="s3cret")
    with TestClient(app) as c:
        assert c.get("/").status_code == 403
        assert c.get(f"/audio/{LONG}").status_code == 403
        assert c.get("/", params={"token": "wrong"}).status_code == 403
        r = c.get("/", params={"token": "s3cret"})
        assert r.status_code == 200 and "callscribe_token" in r.headers["set-cookie"]
        assert c.get(f"/call/{LONG}").status_code == 200  # the cookie carries it


@pytest.fixture
def server(project):
    """The app under uvicorn on 127.0.0.1 (a free port), stopped when the test ends."""
    root, _ = project
    app = create_app(root / "data", root / "data" / "output" / "calls.db", allowed_hosts=["127.0.0.1"])
    with background(app) as url:
        yield url


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not chromium_path(), reason="Debian's chromium is not installed (scripts/debian-packages.txt; `make test` installs it)")
def test_browser_search_click_and_the_player_jumps_to_the_hit(server, project):
    playwright = pytest.importorskip("playwright.sync_api")
    _, hit = project
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(server + "/")
            page.fill("input[name=q]", "zebra crossing")
            page.press("input[name=q]", "Enter")
            page.wait_for_selector(".hit mark")
            assert page.inner_text(".hit .at") == f"▶ {clock(hit['start'])}"
            page.click(".hit-link")
            page.wait_for_url("**/call/**")
            # The player starts where the hit is, and the line being heard is highlighted.
            page.wait_for_function(f"document.getElementById('player').currentTime >= {hit['start'] - 0.01}", timeout=15000)
            now = page.evaluate("document.getElementById('player').currentTime")
            assert hit["start"] - 0.01 <= now < hit["start"] + 3.0
            page.wait_for_selector(f"#s{hit['id']}.playing", timeout=10000)
            # Clicking another line seeks there.
            page.click("#s0 .text")
            page.wait_for_function("document.getElementById('player').currentTime < 5", timeout=10000)
            page.wait_for_selector("#s0.playing", timeout=10000)
        finally:
            browser.close()

