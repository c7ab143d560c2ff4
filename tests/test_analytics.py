"""Analytics: measures on calls whose answer is worked out by hand, fuzzy trackers, topics on texts of known
subject, the incremental stage on synthetic merge outputs, and the report page (in-process and in Chromium)."""

import random
import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bench import synthetic_calls
from callscribe.analytics import reasons, trackers
from callscribe.analytics.measures import Unit, measure, of_transcript, roles
from callscribe.analytics.params import parse
from callscribe.analytics.update import update
from callscribe.index import build
from callscribe.params import ParamsError

P = parse({})


def seg(start, end, speaker, text, words=True):
    s = {"start": start, "end": end, "speaker": speaker, "text": text}
    if words:
        toks = text.split()
        step = (end - start) / len(toks)
        s["words"] = [{"start": start + i * step, "end": start + (i + 1) * step - 0.02, "word": " " + w, "probability": 1.0}
                      for i, w in enumerate(toks)]
    return s


def test_measures_of_a_call_worked_out_by_hand():
    # agent 0-10, caller cuts in at 8 and talks to 14 (2 s overtalk, one interruption), a "yeah" backchannel of
    # 0.4 s inside the caller's turn (no interruption, no end of the monologue), 20 s of silence, agent 34-40.
    items = [Unit(0, 10, "agent", 25), Unit(8, 14, "caller", 12), Unit(11, 11.4, "agent", 1), Unit(34, 40, "agent", 15)]
    call, parties = measure(items, 42.0, P)
    assert parties["agent"]["talk_s"] == pytest.approx(16.4) and parties["caller"]["talk_s"] == pytest.approx(6.0)
    assert call["overtalk_s"] == pytest.approx(2.4)  # 8-10 and the backchannel 11-11.4
    assert parties["caller"]["interruptions"] == 1 and parties["agent"]["interruptions"] == 0
    assert call["silences"] == 1 and call["silence_s"] == pytest.approx(20.0)
    assert call["holds"] == 1 and call["hold_s"] == pytest.approx(20.0)  # 20 s >= hold_seconds (15)
    assert parties["agent"]["longest_monologue_s"] == pytest.approx(10.0)
    assert parties["caller"]["longest_monologue_s"] == pytest.approx(6.0)  # 8-14: the backchannel did not split it
    assert parties["caller"]["wpm"] == pytest.approx(12 / 6 * 60)
    assert call["first_agent_word_s"] == 0 and call["speech_s"] == pytest.approx(20.0)
    short = parse({"hold_seconds": 25})
    assert measure(items, 42.0, short)[0]["holds"] == 0


def test_words_closer_than_a_pause_are_one_stretch_and_roles_come_from_the_greeting():
    t = {"segments": [seg(0.5, 2.0, "SPEAKER_01", "hello hi"), seg(2.5, 6.0, "SPEAKER_00", "thank you for calling how can I help"),
                      seg(7.0, 12.0, "SPEAKER_01", "I want to cancel my policy please today")]}
    assert roles(t) == {"SPEAKER_00": "agent", "SPEAKER_01": "caller"}  # the caller spoke first
    call, parties, named = of_transcript(t, 12.0, P)
    assert call["first_agent_word_s"] == 2.5 and parties["caller"]["words"] == 10
    assert roles({"segments": [seg(0, 2, "SPEAKER_00", "so anyway")]}) == {"SPEAKER_00": "caller"}
    stereo = {"segments": [seg(0, 2, "caller", "hello"), seg(1, 3, "agent", "hi there")]}
    assert roles(stereo) == {"caller": "caller", "agent": "agent"}


def test_trackers_match_fuzzily_by_stem_party_and_time():
    p = parse({"trackers": {"cancel": {"phrases": ["cancel my policy"], "party": "caller"},
                            "hold": ["please hold"],
                            "disclosure": {"phrases": ["this call may be recorded"], "party": "agent", "within_seconds": 30}}})
    t = {"segments": [seg(0, 6, "agent", "Hi, this call may be recorded for training."),
                      seg(7, 12, "caller", "Yes, I'm cancelling my policies, I behold the sea."),
                      seg(40, 44, "agent", "This call is being recorded, please hold.")]}
    hits = trackers.find(t, p.trackers, {"agent": "agent", "caller": "caller"}, p.match_score)
    got = {(h.tracker, h.seg) for h in hits}
    assert got == {("disclosure", 0), ("cancel", 1), ("hold", 2)}  # not "behold", not the disclosure after 30 s
    cancel = next(h for h in hits if h.tracker == "cancel")
    assert 7 < cancel.start < cancel.end < 12 and cancel.party == "caller"
    assert not trackers.find(t, {"cancel": p.trackers["cancel"]}, {"agent": "caller", "caller": "agent"}, p.match_score)


def test_a_bad_setting_names_the_param():
    with pytest.raises(ParamsError, match=r"analytics\.trackers is .*: give 'agent', 'caller' or 'any'"):
        parse({"trackers": {"cancel": {"phrases": ["x"], "party": "boss"}}})
    with pytest.raises(ParamsError, match=r"analytics\.hold_seconds is -1: give a number above 0"):
        parse({"hold_seconds": -1})
    with pytest.raises(ParamsError, match="analytics.colour is not known"):
        parse({"colour": "red"})
    with pytest.raises(ParamsError, match="hold_seconds is shorter than silence_seconds"):
        parse({"silence_seconds": 5, "hold_seconds": 3})


TOPICS = {
    "claims": "accident claim car damage repair adjuster windshield collision estimate garage tow",
    "billing": "invoice payment charged twice card refund bill autopay balance statement overdue",
    "quotes": "quote new policy price premium coverage home insurance compare deductible rate",
}


def texts_of_known_subject(n_each=40, seed=1):
    rng = random.Random(seed)
    common = "i was wondering about my account and the thing from last week so".split()
    out = []
    for topic, words in TOPICS.items():
        vocab = words.split()
        for _ in range(n_each):
            out.append((topic, " ".join(rng.choice(vocab) if rng.random() < 0.5 else rng.choice(common) for _ in range(40))))
    return out


def test_topics_of_texts_of_known_subject_are_pure():
    data = texts_of_known_subject()
    model = reasons.fit([t for _, t in data], 3, 0, "k")
    placed = reasons.assign(model, [t for _, t in data])
    by_topic: dict = {}
    for (truth, _), (topic, _) in zip(data, placed):
        by_topic.setdefault(topic, []).append(truth)
    purity = sum(max(map(v.count, set(v))) for v in by_topic.values()) / len(data)
    assert purity >= 0.9, by_topic.keys()
    assert all(model.phrases) and len(model.phrases) == 3


def _project(root: Path, n: int, start_at: int = 0) -> Path:
    data = root / "data"
    (data / "output").mkdir(parents=True, exist_ok=True)
    synthetic_calls.write(data / "output", n, seed=3, start_at=start_at)
    build(data / "output" / "calls.jsonl", data / "output" / "calls.db", data)
    return data


def _run(data: Path, p, names=None):
    out = data / "output"
    return update(out / "calls.db", data, out / "analytics.db", out / "reasons-model.joblib", p, names or {})


def test_the_stage_is_incremental_and_tracker_changes_measure_without_refitting(tmp_path):
    data = _project(tmp_path, 80)
    p = parse({"trackers": {"cancel": ["cancel my subscription"]}, "reasons": {"clusters": 4}})
    first = _run(data, p)
    db = data / "output" / "analytics.db"
    con = sqlite3.connect(db)
    ok = con.execute("SELECT count(*) FROM measures").fetchone()[0]
    assert first.measured == ok == first.calls > 50 and first.refitted
    assert con.execute("SELECT count(DISTINCT call) FROM hits WHERE tracker = 'cancel'").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM reasons WHERE topic IS NOT NULL").fetchone()[0] > 0.5 * ok
    again = _run(data, p)
    assert again.measured == 0 and again.unchanged == ok and not again.refitted
    # A new shard: the new calls alone are measured, and placed in the topics already fitted.
    rows = (data / "output" / "calls.jsonl").read_text()
    synthetic_calls.write(tmp_path / "new", 10, seed=3, start_at=80)
    for f in (tmp_path / "new" / "transcripts").rglob("*.json"):
        dest = data / "output" / "transcripts" / f.relative_to(tmp_path / "new" / "transcripts")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    (data / "output" / "calls.jsonl").write_text(rows + (tmp_path / "new" / "calls.jsonl").read_text())
    build(data / "output" / "calls.jsonl", data / "output" / "calls.db", data)
    added = _run(data, p)
    assert 0 < added.measured <= 10 and not added.refitted
    # New trackers: every call is matched again; the topics stay.
    p2 = parse({"trackers": {"refund": ["the refund should arrive"]}, "reasons": {"clusters": 4}})
    changed = _run(data, p2)
    assert changed.measured == changed.calls and not changed.refitted
    assert {r[0] for r in con.execute("SELECT DISTINCT tracker FROM hits")} == {"refund"}
    # Names: applied to the topics table, no refit; a topic renamed twice merges.
    named = _run(data, p2, {0: "billing", 1: "billing"})
    assert named.measured == 0 and not named.refitted
    assert [r[0] for r in con.execute("SELECT name FROM topics WHERE topic IN (0, 1)")] == ["billing", "billing"]


def test_an_unreadable_transcript_is_named_and_keeps_its_rows(tmp_path):
    data = _project(tmp_path, 30)
    p = parse({})
    _run(data, p)
    con = sqlite3.connect(data / "output" / "analytics.db")
    call, before = con.execute("SELECT call, speech_s FROM measures LIMIT 1").fetchone()
    path = data / "output" / "transcripts" / f"{call}.json"
    path.write_text(path.read_text()[:-40] + "garbage")  # after the index read it
    stats = _run(data, parse({"pause_seconds": 0.4}))  # new settings: every call is measured again
    assert len(stats.errors) == 1 and call in stats.errors[0]
    assert con.execute("SELECT speech_s FROM measures WHERE call = ?", (call,)).fetchone()[0] == before
    assert con.execute("SELECT count(*) FROM measures").fetchone()[0] == stats.calls


def test_a_bad_names_file_is_refused(tmp_path):
    f = tmp_path / "reasons.yaml"
    f.write_text("claims: 3\n")
    with pytest.raises(ValueError, match="topic number: name"):
        reasons.names(f)
    f.write_text("# nothing yet\n{}\n")
    assert reasons.names(f) == {}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data = _project(root, 300)
    _run(data, parse({"trackers": {"complaint": ["I'd like to file a complaint"]}, "reasons": {"clusters": 5}}))
    return data


def test_report_page_links_every_bar_to_its_calls(served):
    from starlette.testclient import TestClient

    from callscribe.web.app import create_app

    client = TestClient(create_app(served, served / "output" / "calls.db"), base_url="http://127.0.0.1")
    r = client.get("/report")
    assert r.status_code == 200 and "<svg" in r.text
    assert "<script" not in r.text and "http" not in r.text.split("<body>")[0].replace('"/static', "")  # nothing from outside
    import html
    import re

    bars = [html.unescape(h) for h in re.findall(r'<a href="([^"]+)" class="bar"', r.text)]
    assert any(b.startswith("/?queue=") for b in bars) and any("reason=" in b for b in bars) and any("tracker=" in b for b in bars)
    con = sqlite3.connect(served / "output" / "analytics.db")
    want = con.execute("SELECT count(DISTINCT call) FROM hits WHERE tracker = 'complaint'").fetchone()[0]
    page = client.get("/report/calls", params={"tracker": "complaint"})
    assert f"{want:,} call" in page.text and page.text.count("hit-at") >= min(want, 50)
    for b in bars[:: max(1, len(bars) // 15)]:
        assert client.get(b).status_code == 200, b


def test_report_page_before_any_analytics_says_what_to_run(tmp_path):
    from starlette.testclient import TestClient

    from callscribe.web.app import create_app

    data = _project(tmp_path, 5)
    client = TestClient(create_app(data, data / "output" / "calls.db"), base_url="http://127.0.0.1")
    for url in ("/report", "/report/calls?tracker=x"):
        r = client.get(url)
        assert r.status_code == 200 and "dvc repro analytics" in r.text


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(not chromium_path(), reason="Debian's chromium is not installed (scripts/debian-packages.txt)")
def test_browser_report_bar_click_lands_on_the_matching_calls(served):
    import uvicorn

    from callscribe.web.app import create_app

    playwright = pytest.importorskip("playwright.sync_api")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(served, served / "output" / "calls.db")
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    con = sqlite3.connect(served / "output" / "analytics.db")
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path())
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests = []
            page.on("request", lambda req: requests.append(req.url))
            page.goto(f"http://127.0.0.1:{port}/report")
            assert all(u.startswith(f"http://127.0.0.1:{port}/") for u in requests)  # no CDN
            # A reason-per-month bar: the calls page lists exactly that many calls of that reason and month.
            bar = page.locator('svg[aria-label="call reasons per month"] a.bar').first
            reason, month = bar.get_attribute("data-series"), bar.get_attribute("data-x")
            want = con.execute("""SELECT count(*) FROM measures m LEFT JOIN reasons r ON r.call = m.call LEFT JOIN topics t
                                  ON t.topic = r.topic WHERE coalesce(t.name, '(no reason)') = ? AND substr(m.date, 1, 7) = ?""",
                               (reason, month)).fetchone()[0]
            bar.click()
            page.wait_for_url("**/report/calls?**")
            assert page.inner_text("#summary").startswith(f"{want:,} call")
            assert page.locator("tr.report-call").count() == min(want, 50)
            # A calls-per-day bar lands on the search page filtered to that queue and day.
            page.goto(f"http://127.0.0.1:{port}/report")
            bar = page.locator('svg[aria-label="calls per day by queue"] a.bar').first
            day, queue = bar.get_attribute("data-x"), bar.get_attribute("data-series")
            bar.click()
            page.wait_for_url("**/?queue=**")
            assert page.locator("table.calls tbody tr").count() >= 1
            assert all(day in t for t in page.locator("table.calls tbody tr td:first-child").all_inner_texts())
            assert all(q == queue for q in page.locator("table.calls tbody tr td:nth-child(3)").all_inner_texts())
            page.screenshot(path=str(served.parent / "report.png"), full_page=True)
            browser.close()
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.mark.slow
def test_the_stage_stops_on_a_bad_setting_before_any_work_and_runs_on_a_good_one(tmp_path):
    import subprocess
    import sys

    import yaml

    repo = Path(__file__).resolve().parents[1]
    _project(tmp_path, 40)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"analytics": {"silence_seconds": 5, "hold_seconds": 3}}))
    env = {"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"}
    bad = subprocess.run([sys.executable, str(repo / "stages" / "analytics.py")], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "params.yaml: analytics" in bad.stderr and "hold_seconds" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "data" / "output" / "analytics.db").exists()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"analytics": {"trackers": {"cancel": ["cancel my subscription"]}}}))
    good = subprocess.run([sys.executable, str(repo / "stages" / "analytics.py")], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stderr
    figures = yaml.safe_load((tmp_path / "metrics" / "analytics.json").read_text())
    assert figures["calls"] > 20 and 0 < figures["trackers"]["cancel"] < 1
    assert all((tmp_path / "plots" / "analytics" / f"{n}.png").stat().st_size > 1000 for n in ("calls_per_day", "hold_per_queue"))
