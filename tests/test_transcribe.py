import json
import subprocess
import sys

import numpy as np
import pytest

from callscribe.audio import SAMPLE_RATE, load_audio, to_mono
from callscribe.engines import load_engine
from callscribe.evaluate import score
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import pieces, repetition_warning, transcribe_audio
from tests.conftest import find_sample

LONG_CALL = "1758833185"  # 300 s of read speech
JFK = "1758662274"
SILENT = "1757258616"


@pytest.fixture(scope="module")
def engine():
    return load_engine(TranscribeSettings(engine="faster-whisper", workers=1).resolved())


def test_long_calls_are_cut_at_pauses(sample_audio):
    audio = to_mono(load_audio(find_sample(sample_audio, LONG_CALL)))
    cuts = pieces(audio, 60)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
    assert all(45 * SAMPLE_RATE <= e - s <= 60 * SAMPLE_RATE for s, e in cuts[:-1])
    # Each cut lands in a pause: far quieter than the call's typical level.
    frame = SAMPLE_RATE // 10
    typical = np.sqrt(np.mean(audio**2))
    for _, cut in cuts[:-1]:
        assert np.sqrt(np.mean(audio[cut - frame : cut + frame] ** 2)) < 0.3 * typical


def test_chunked_long_call_keeps_call_relative_times(sample_audio, labels, engine):
    path = find_sample(sample_audio, LONG_CALL)
    settings = TranscribeSettings(engine="faster-whisper", workers=1, max_chunk_minutes=1.5).resolved()
    transcript, warnings = transcribe_audio(engine, load_audio(path), settings)
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1].end > 280
    words = [w for s in transcript.segments for w in s.words]
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    ref = next(v["text"] for k, v in labels.items() if LONG_CALL in k[1])
    metrics, _ = score([("long", ref, transcript.text)])
    assert metrics["wer"] < 0.10 and not warnings


def test_silence_gives_no_words(sample_audio, engine):
    transcript, _ = transcribe_audio(engine, load_audio(find_sample(sample_audio, SILENT)), TranscribeSettings(engine="faster-whisper", workers=1).resolved())
    assert transcript.text == "" and transcript.segments == []


def test_repetition_loops_are_flagged():
    assert repetition_warning("thank you " * 40, 20) is not None
    assert repetition_warning("and so my fellow americans ask not what your country can do for you", 11) is None


def test_cli_writes_outputs_and_resume_skips(sample_audio, tmp_path):
    files = [find_sample(sample_audio, JFK), find_sample(sample_audio, SILENT)]
    folder = tmp_path / "in"
    folder.mkdir()
    for f in files:
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "callscribe.cli", "transcribe", str(folder), "-o", str(out), "--manifest", "--formats", "json,txt,srt,vtt", "--workers", "2", "--engine", "faster-whisper"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 1, first.stderr  # the broken file is an error; the others are written
    assert "broken.wav" in first.stderr
    manifest = {r["id"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    jfk = manifest[files[0].stem]
    assert jfk["status"] == "ok" and "ask not what your country can do for you" in jfk["text"].lower()
    assert manifest[files[1].stem]["status"] == "no_speech"
    assert manifest["broken"]["status"] == "error" and "broken.wav" in manifest["broken"]["reason"]
    for fmt in ("json", "txt", "srt", "vtt"):
        assert (out / f"{files[0].stem}.{fmt}").stat().st_size > 0
    assert (out / f"{files[0].stem}.srt").read_text().startswith("1\n00:00:0")
    data = json.loads((out / f"{files[0].stem}.json").read_text())
    assert data["segments"][0]["words"][0]["probability"] > 0
    journal_lines = (out / "journal.jsonl").read_text().splitlines()
    assert len(journal_lines) == 3

    second = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert "3 already done" in second.stderr
    assert (out / "journal.jsonl").read_text().splitlines() == journal_lines
    # A changed setting re-transcribes.
    third = subprocess.run(cmd + ["--resume", "--beam-size", "1"], capture_output=True, text=True)
    assert "0 already done" in third.stderr
