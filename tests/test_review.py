"""Review: excerpts drawn with known probabilities, labels saved by the review page (and every refusal of
a write), labels scored by evaluate. The data folder holds a real 5-minute GSM sample call with a
synthetic transcript over it (word times spread over each segment), as test_web.py does."""

import hashlib
import json
import os
import random
import re

import pytest

from bench import synthetic_calls
from callscribe import labels as store
from callscribe.archive import extract
from callscribe.index import build
from callscribe.outputs import write_transcript
from callscribe.records import Transcript
from callscribe.redact import RedactSettings
from callscribe.review import MAX_S, MIN_S, draw, sample, windows, words_of
from callscribe.scoring import excerpt_words, pair_labels, score_excerpt, summarize
from tests.helpers import ARCHIVES

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from callscribe.web import background  # noqa: E402
from callscribe.web.app import create_app  # noqa: E402
from tests.test_web import chromium_path  # noqa: E402

LONG = "calls_2025-09-16_2025-09-30/recordings/q-410-+13365550118-20250925-164625-1758833185.4698"  # 5:00, GSM 6.10 mono
ORIGIN = "http://127.0.0.1"


def with_words(t: dict) -> dict:
    """Word times spread evenly over each segment, as a decoder's would lie."""
    for seg in t["segments"]:
        toks = seg["text"].split()
        step = (seg["end"] - seg["start"]) / len(toks)
        seg["words"] = [{"start": round(seg["start"] + i * step, 3), "end": round(seg["start"] + (i + 0.8) * step, 3),
                         "word": " " + w, "probability": 0.9, "speaker": seg["speaker"]} for i, w in enumerate(toks)]
    return t


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The 5-minute call and four short ones of the samples, each with a synthetic transcript of its length."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("review")
    data = root / "data"
    extract(ARCHIVES, data / "audio")
    others = sorted(p for p in (data / "audio").rglob("*.WAV") if p.stat().st_size > 8000 and LONG not in p.as_posix())[:4]
    gen, calls = synthetic_calls.Generator(11), []
    for i, wav in enumerate([data / "audio" / f"{LONG}.WAV", *others]):
        call_id = wav.relative_to(data / "audio").with_suffix("").as_posix()
        duration = 300.0 if i == 0 else round(sf.info(wav).duration, 2)
        row, t = gen.call(i, duration=duration, stereo=False)
        row.update(id=call_id, archive=call_id.split("/")[0], name=wav.name, queue=["410", "300"][i % 2], date="2025-09-25",
                   start="2025-09-25T16:46:25", status="ok", sha256=hashlib.sha256(wav.read_bytes()).hexdigest(),
                   duration=duration, confidence=0.4 + 0.1 * i)
        t = with_words(t)
        write_transcript(Transcript.from_dict(t), data / "output" / "transcripts" / call_id, ["json"])
        calls.append((row, t))
    synthetic_calls.write(data / "output", 0, seed=11, extra=calls)
    build(data / "output" / "calls.jsonl", data / "output" / "calls.db", data)
    queue = sample(5, 3, root / "labels" / "queue.jsonl", data / "output" / "calls.jsonl")
    return root, queue, calls[0][1]


@pytest.fixture()
def client(project):
    root, _, _ = project
    (root / "labels" / "labels.jsonl").unlink(missing_ok=True)
    app = create_app(root / "data", root / "data" / "output" / "calls.db", allowed_hosts=["127.0.0.1"],
                     labels_dir=root / "labels", redact_settings=RedactSettings(enabled=True))
    with TestClient(app, base_url=ORIGIN) as c:
        page = c.get("/review?n=0")
        c.token = re.search(r'name="review-token" content="([^"]+)"', page.text).group(1)
        yield c


def post(c, body, **headers):
    h = {"Origin": ORIGIN, "X-Review-Token": c.token, "Content-Type": "application/json", **headers}
    return c.post("/review/label", content=json.dumps(body), headers={k: v for k, v in h.items() if v is not None})


# ---- drawing ----

def test_windows_cover_the_call_and_end_in_pauses(project):
    _, _, t = project
    words = words_of(t)
    cuts = windows(300.0, words)
    assert cuts[0][0] == 0.0 and cuts[-1][1] == 300.0 and all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
    assert all(MIN_S <= b - a <= MAX_S for a, b in cuts[:-1])
    for _, cut in cuts[:-1]:  # no word sounds across a cut
        assert not [w for w in words if w[0] < cut < w[1]], cut


def test_weighted_estimate_undoes_the_lean_toward_low_confidence(tmp_path):
    """An archive where low-confidence calls have more errors: the draw over-samples them, so the plain
    mean of the labels is too high; weighting each by 1/p gives back the archive's WER."""
    rng = random.Random(5)
    calls, errors = [], {}
    for i in range(300):
        conf = rng.random()
        calls.append({"id": f"c{i}", "sha256": f"{i:064x}", "status": "ok", "duration": rng.choice([40, 200, 600]),
                      "confidence": conf, "queue": rng.choice("ab"), "date": f"2025-0{rng.randint(1, 6)}-01"})
        errors[calls[-1]["sha256"]] = 0.4 * (1 - conf) + 0.02  # errors per word in every window of the call
    words = {c["sha256"]: c["duration"] * 2 for c in calls}  # 2 words a second
    true = sum(errors[h] * words[h] for h in words) / sum(words.values())
    weighted, plain = [], []
    for seed in range(300):
        got = draw(calls, tmp_path, 30, seed)
        assert len(got) == 30 and len({e["sha256"] for e in got}) == 30
        rows = [{"p": e["p"], "errors": errors[e["sha256"]] * 2 * (e["end"] - e["start"]), "ref_words": 2 * (e["end"] - e["start"])}
                for e in got]
        weighted.append(sum(r["errors"] / r["p"] for r in rows) / sum(r["ref_words"] / r["p"] for r in rows))
        plain.append(sum(r["errors"] for r in rows) / sum(r["ref_words"] for r in rows))
    assert abs(sum(weighted) / len(weighted) - true) < 0.01 * true + 0.003, (sum(weighted) / len(weighted), true)
    assert sum(plain) / len(plain) > true * 1.1  # the lean is real, and the weighting is what removes it


def test_a_draw_is_kept_while_its_params_stay_and_replaced_when_they_change(project, tmp_path):
    root, queue, _ = project
    calls_jsonl = root / "data" / "output" / "calls.jsonl"
    assert sample(5, 3, root / "labels" / "queue.jsonl", calls_jsonl) == queue
    again = sample(3, 4, tmp_path / "q.jsonl", calls_jsonl)
    assert len(again) == 3 and all(e["draw"] == 4 for e in again)


# ---- scoring ----

def test_excerpt_words_count_each_word_once_by_its_midpoint():
    words = [{"start": 0.0, "end": 1.0, "word": " one"}, {"start": 1.8, "end": 2.4, "word": " two"},
             {"start": 2.5, "end": 3.9, "word": " three"}]
    t = {"segments": [{"start": 0, "end": 4, "speaker": "A", "words": words}]}
    assert [w for w, _ in excerpt_words(t, 0.0, 2.0)] == [" one"]
    assert [w for w, _ in excerpt_words(t, 2.0, 4.0)] == [" two", " three"]  # "two" straddles 2.0: counted on its larger side


def test_masks_count_as_matching_and_speakers_are_matched_by_name_mapping():
    t = {"segments": [{"start": 0, "end": 6, "speaker": "SPEAKER_01", "words": [
        {"start": i, "end": i + 0.5, "word": f" {w}", "speaker": "SPEAKER_01" if i < 3 else "SPEAKER_00"}
        for i, w in enumerate(["my", "card", "[CARD]", "thank", "you", "bye"])]}]}
    label = {"text": "my card [CARD] thank you bye", "sha256": "x", "start": 0.0, "end": 6.0, "p": 0.5,
             "turns": [{"start": 0, "end": 3, "speaker": "caller", "text": "my card [CARD]"},
                       {"start": 3, "end": 6, "speaker": "agent", "text": "thank you bye"}]}
    row = score_excerpt(label, t)
    assert (row["errors"], row["ref_words"], row["speaker_errors"], row["speaker_words"]) == (0, 6, 0, 6)
    label["turns"][1]["speaker"] = "caller"  # the reviewer says the caller said it all
    assert score_excerpt(label, t)["speaker_errors"] == 3
    label["text"] = "my card four one one one thank you bye"  # the digits instead of the mask: "4111" is not "[CARD]"
    assert score_excerpt(label, t)["errors"] == 1


# ---- the review page ----

def test_review_page_shows_the_first_excerpt_with_its_lines_and_progress(client, project):
    _, queue, _ = project
    r = client.get("/review")
    assert r.status_code == 200 and "0 of 5 reviewed" in r.text and 'src="/static/review.js"' in r.text
    state = json.loads(re.search(r'id="review-state">(.*?)</script>', r.text, re.S).group(1))
    assert state["excerpt"] == queue[0]["id"] and state["lines"] and all(
        queue[0]["start"] <= x["start"] <= x["end"] <= queue[0]["end"] for x in state["lines"])
    assert client.get("/review?n=99", follow_redirects=False).headers["location"] == "/review?n=4"


def test_a_saved_label_is_masked_atomic_and_shown_again(client, project):
    root, queue, _ = project
    e = queue[1]
    lines = [{"start": e["start"], "end": e["start"] + 2, "speaker": "caller", "text": "my card is 4111 1111 1111 1111 thanks"}]
    r = post(client, {"excerpt": e["id"], "lines": lines, "verified": True})
    assert r.status_code == 200, r.text
    saved = store.by_excerpt(root / "labels" / "labels.jsonl")[e["id"]]
    assert "4111" not in json.dumps(saved) and "[CARD]" in saved["text"]  # typed digits are masked again
    assert (saved["sha256"], saved["start"], saved["end"], saved["p"]) == (e["sha256"], e["start"], e["end"], e["p"])
    assert r.json()["progress"] == {"reviewed": 1, "total": 5, "minutes": round((e["end"] - e["start"]) / 60, 1)}
    assert "[CARD] thanks" in client.get("/review?n=1").text
    assert not list((root / "labels").glob(".*.tmp"))


@pytest.mark.parametrize("case", ["no origin", "other origin", "cross-site fetch", "no token", "wrong token", "form post",
                                  "not in the queue", "lines outside the excerpt", "not json", "too large"])
def test_every_bad_write_is_refused(client, project, case):
    root, queue, _ = project
    e = queue[0]
    good = {"excerpt": e["id"], "lines": [{"start": e["start"], "end": e["start"] + 1, "speaker": "agent", "text": "hi"}]}
    expect, r = {"no origin": 403, "other origin": 403, "cross-site fetch": 403, "no token": 403, "wrong token": 403,
                 "form post": 415, "not in the queue": 404, "lines outside the excerpt": 400, "not json": 400, "too large": 413}[case], None
    if case == "no origin":
        r = post(client, good, Origin=None)
    elif case == "other origin":
        r = post(client, good, Origin="http://evil.example")
    elif case == "cross-site fetch":
        r = post(client, good, **{"Sec-Fetch-Site": "cross-site"})
    elif case == "no token":
        r = post(client, good, **{"X-Review-Token": None})
    elif case == "wrong token":
        r = post(client, good, **{"X-Review-Token": "guess"})
    elif case == "form post":
        r = post(client, good, **{"Content-Type": "application/x-www-form-urlencoded"})
    elif case == "not in the queue":
        r = post(client, {**good, "excerpt": "0" * 16 + "@0.00"})
    elif case == "lines outside the excerpt":
        r = post(client, {**good, "lines": [{"start": e["end"] + 30, "end": e["end"] + 31, "speaker": "a", "text": "x"}]})
    elif case == "not json":
        r = client.post("/review/label", content=b"{nope", headers={"Origin": ORIGIN, "X-Review-Token": client.token,
                                                                   "Content-Type": "application/json"})
    elif case == "too large":
        r = post(client, {**good, "pad": "x" * 300_000})
    assert r.status_code == expect, (case, r.status_code, r.text)
    assert not (root / "labels" / "labels.jsonl").exists()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "GET"])
def test_the_label_route_takes_only_post_and_other_routes_still_only_get(client, method):
    assert client.request(method, "/review/label").status_code == 405
    assert client.post("/review", headers={"Origin": ORIGIN}).status_code == 405
    assert client.post("/", headers={"Origin": ORIGIN}).status_code == 405
    assert client.get("/review", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding


def test_evaluate_scores_a_label_against_the_transcript_in_its_time_range(client, project):
    root, queue, t = project
    e = next(e for e in queue if e["call"] == LONG)
    hyp = "".join(w for w, _ in excerpt_words(t, e["start"], e["end"])).split()
    corrected = ["wrong"] + hyp[1:]  # one word corrected
    post(client, {"excerpt": e["id"], "lines": [{"start": e["start"], "end": e["end"], "speaker": "x", "text": " ".join(corrected)}]})
    calls = [json.loads(x) for x in (root / "data/output/calls.jsonl").read_text().splitlines()]
    rows, missing = pair_labels(store.read(root / "labels/labels.jsonl"), calls, root / "data/output/transcripts")
    assert not missing and rows[0]["errors"] == 1 and rows[0]["ref_words"] == len(hyp)
    s = summarize(rows)
    assert s["wer"] == round(1 / len(hyp), 4) and s["by_queue"]["410"]["excerpts"] == 1 and s["by_length"]["5-15 min"]


# ---- the whole loop in a real browser ----

@pytest.fixture
def server(project):
    root, _, _ = project
    (root / "labels" / "labels.jsonl").unlink(missing_ok=True)
    app = create_app(root / "data", root / "data" / "output" / "calls.db", allowed_hosts=["127.0.0.1"], labels_dir=root / "labels",
                     redact_settings=RedactSettings(enabled=True))
    with background(app) as url:
        yield url


@pytest.mark.slow
@pytest.mark.skipif(not chromium_path(), reason="Debian's chromium is not installed (scripts/debian-packages.txt)")
def test_browser_correct_a_word_and_a_speaker_reload_and_evaluate_scores_it(server, project):
    playwright = pytest.importorskip("playwright.sync_api")
    root, queue, t = project
    e = queue[0]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server + "/review")
            page.wait_for_selector("#lines .line .text")
            first = page.locator("#lines .line").first
            first.locator(".text").fill("zebra " + first.locator(".text").input_value())  # a word the model missed
            first.locator(".text").press("Control+.")  # the next speaker for this line
            speaker = first.locator(".who").input_value()
            page.wait_for_function("document.getElementById('state').textContent === 'saved'", timeout=10000)
            page.keyboard.press("Control+Space")  # plays from the excerpt's start
            page.wait_for_function(f"document.getElementById('player').currentTime > {e['start'] + 0.2}", timeout=15000)
            page.keyboard.press("Control+Space")
            page.reload()
            page.wait_for_selector("#lines .line .text")
            first = page.locator("#lines .line").first
            assert first.locator(".text").input_value().startswith("zebra ") and first.locator(".who").input_value() == speaker
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # no sideways scrolling at 1280x800
            if os.environ.get("CALLSCRIBE_SCREENSHOT"):  # docs/review.png is made this way
                page.screenshot(path=os.environ["CALLSCRIBE_SCREENSHOT"])
        finally:
            browser.close()
    calls = [json.loads(x) for x in (root / "data/output/calls.jsonl").read_text().splitlines()]
    rows, _ = pair_labels(store.read(root / "labels/labels.jsonl"), calls, root / "data/output/transcripts")
    assert rows[0]["excerpt"] == e["id"] and rows[0]["deletions"] >= 1  # "zebra" is in the label, not the transcript
    assert rows[0]["speaker_words"] > 0


# ---- confidence ----

def test_confidence_is_the_word_probability_halved_per_loop_left_and_none_without_words():
    from callscribe.confidence import confidence, signals

    t = {"segments": [{"start": 0, "end": 2, "text": " a b", "avg_logprob": -0.2, "no_speech_prob": 0.1,
                       "words": [{"start": 0, "end": 1, "word": " a", "probability": 0.9},
                                 {"start": 1, "end": 2, "word": " b", "probability": 0.5}]}]}
    sig = signals(t, [])
    assert (sig["word_prob"], sig["mean_logprob"], sig["no_speech_prob"]) == (0.7, -0.2, 0.1)
    assert confidence(sig) == 0.7
    retried = signals(t, ["repetition loop: text compresses 3.1x at 0 s; retried with safer decoding"])
    assert (retried["retries"], retried["loops"], confidence(retried)) == (1, 0, 0.7)  # the retry fixed it
    looped = signals(t, ["repetition loop: text compresses 3.1x at 0 s; retried with safer decoding, still repetition loop"])
    assert (looped["retries"], looped["loops"], confidence(looped)) == (1, 1, 0.35)  # retried, and looped again
    assert confidence(signals(None, [])) is None


def test_search_page_lists_the_least_confident_calls_first(client, project):
    root, _, _ = project
    newest = client.get("/").text
    least = client.get("/", params={"order": "least_confident"}).text
    assert "Least confident calls" in least and "least confident first" in newest
    shown = [float(x) for x in re.findall(r'<td class="num">(0\.\d\d)</td>', least)]
    assert shown == sorted(shown) and len(shown) == 5


def test_cli_review_draws_once_and_keeps_a_queue_with_labels(project, tmp_path, capsys):
    from callscribe import cli

    root, _, _ = project
    queue = tmp_path / "q.jsonl"
    args = ["review", "--sample", "2", "--data", str(root / "data"), "--queue", str(queue)]
    assert cli.main(args) == 0 and len(queue.read_text().splitlines()) == 2
    assert "2 excerpts from 2 calls" in capsys.readouterr().err
    assert cli.main([*args[:2], "3", *args[3:]]) == 2 and "--replace" in capsys.readouterr().err
    assert cli.main([*args[:2], "3", *args[3:], "--replace"]) == 0 and len(queue.read_text().splitlines()) == 3
