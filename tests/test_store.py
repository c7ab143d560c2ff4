"""Finished transcripts kept by audio and settings: going back to earlier settings decodes nothing."""

import json
import os
import time

import pytest

from callscribe.calls import Job
from callscribe.runner import run
from callscribe.settings import TranscribeSettings
from callscribe.store import Store
from tests.helpers import find_sample

CALLS = ("1758662274", "1757258616", "1756904127")  # jfk, the silent call, one more


def journal(out):
    return [json.loads(line) for line in open(out / "journal.jsonl", encoding="utf-8")]


@pytest.mark.slow
def test_flipping_a_setting_and_back_decodes_nothing_the_second_time(sample_audio, tmp_path):
    jobs = []
    for part in CALLS:
        path = find_sample(sample_audio, part)
        jobs.append(Job(part, str(path), part, 10.0))  # sha256 stands in: what matters is that it stays the same
    settings = {b: TranscribeSettings(engine="faster-whisper", model="tiny.en", workers=1, beam_size=b, diarize=False).resolved()
                for b in (2, 3)}
    out = tmp_path / "out"
    first = run(jobs, out, settings[2], progress=False)
    assert first.restored == 0 and sum(first.counts.values()) == 3
    text = (out / "1758662274.json").read_text()
    run(jobs, out, settings[3], progress=False)
    back = run(jobs, out, settings[2], progress=False)
    assert back.restored == 3 and back.skipped == 0  # a scan: nothing decoded
    lines = journal(out)
    assert len(lines) == 9 and all(e.get("restored") for e in lines[6:]) and not any(e.get("restored") for e in lines[:6])
    assert (out / "1758662274.json").read_text() == text  # the beam-2 transcript, as first made
    assert {e["settings_hash"] for e in lines[6:]} == {settings[2].hash()}
    assert run(jobs, out, settings[3], progress=False).restored == 3  # and forth again


def test_the_store_keeps_the_last_settings_used_and_prune_trims_it(tmp_path):
    store = Store(tmp_path)
    for i, h in enumerate(["a", "b", "c", "d", "e"]):
        store.put({"id": "x", "sha256": "s", "settings_hash": h, "status": "ok"}, {"text": h})
        os.utime(store.root / h, (time.time() + i, time.time() + i))
    assert store.get("s", "e") == {"record": {"sha256": "s", "settings_hash": "e", "status": "ok"}, "transcript": {"text": "e"}}
    assert store.prune(3) == ["b", "a"] and store.get("s", "a") is None and store.get("s", "c") is not None
    store.put({"id": "x", "sha256": "t", "settings_hash": "e", "status": "error"}, None)
    assert store.get("t", "e") is None  # failures are retried, never restored
