import json
import subprocess
import sys

import numpy as np
import pytest

from callscribe.audio import SAMPLE_RATE, cut_at_pauses, load_audio, to_mono
from callscribe.calls import Job, transcribe_file, transcribe_files
from callscribe.engines import Decoded, Engine, load_engine
from callscribe.evaluate import score
from callscribe.runner import groups
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import repetition_warning, transcribe_audio
from tests.helpers import find_sample

LONG_CALL = "1758833185"  # 300 s of read speech
JFK = "1758662274"
SILENT = "1757258616"


@pytest.fixture(scope="module")
def engine():
    return load_engine(TranscribeSettings(engine="faster-whisper", workers=1).resolved())


def test_long_calls_are_cut_at_pauses(sample_audio):
    audio = to_mono(load_audio(find_sample(sample_audio, LONG_CALL)))
    cuts = cut_at_pauses(audio, 60)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
    assert all(45 * SAMPLE_RATE <= e - s <= 60 * SAMPLE_RATE for s, e in cuts[:-1])
    # Each cut lands in a pause: far quieter than the call's typical level.
    frame = SAMPLE_RATE // 10
    typical = np.sqrt(np.mean(audio**2))
    for _, cut in cuts[:-1]:
        assert np.sqrt(np.mean(audio[cut - frame : cut + frame] ** 2)) < 0.3 * typical


@pytest.mark.slow
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


@pytest.mark.slow
def test_silence_gives_no_words(sample_audio, engine):
    settings = TranscribeSettings(engine="faster-whisper", workers=1).resolved()
    transcript, _ = transcribe_audio(engine, load_audio(find_sample(sample_audio, SILENT)), settings)
    assert transcript.text == "" and transcript.segments == []


def test_repetition_loops_are_flagged():
    assert repetition_warning("thank you " * 40, 20) is not None
    assert repetition_warning("and so my fellow americans ask not what your country can do for you", 11) is None


@pytest.mark.slow
def test_cli_writes_outputs_and_resume_skips(sample_audio, tmp_path):
    files = [find_sample(sample_audio, JFK), find_sample(sample_audio, SILENT)]
    folder = tmp_path / "in"
    folder.mkdir()
    for f in files:
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "callscribe.cli", "transcribe", str(folder), "-o", str(out), "--manifest",
           "--formats", "json,txt,srt,vtt", "--workers", "2", "--engine", "faster-whisper"]
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


@pytest.mark.slow
def test_packed_short_calls_match_one_by_one(sample_audio, labels, engine):
    """Packing short calls into shared windows must not cost accuracy or mix calls up."""
    import soundfile as sf

    short = sorted((p for p in sample_audio.rglob("*.WAV") if p.stat().st_size > 1024 and sf.info(str(p)).channels == 1
                    and sf.info(str(p)).duration < 10 and (p.relative_to(sample_audio).parts[0], p.name) in labels),
                   key=lambda p: p.name)[:8]
    jobs = [Job(p.name, str(p), "", sf.info(str(p)).duration) for p in short]
    tasks = groups(sorted(jobs, key=lambda j: -j.duration), 20)
    assert sum(map(len, tasks)) == 8 and len(tasks) < 8 and all(sum(j.duration for j in g) <= 60 for g in tasks)
    assert groups(jobs, 0) == [[j] for j in jobs]  # pack_seconds 0: one call per task
    settings = TranscribeSettings(workers=1).resolved()
    packed = transcribe_files(engine, jobs, settings)
    single = [transcribe_files(engine, [job], settings)[0] for job in jobs]
    refs = [labels[(p.relative_to(sample_audio).parts[0], p.name)]["text"] for p in short]
    wer_packed, _ = score([(j.id, r, t.text) for j, r, (_, t) in zip(jobs, refs, packed)])
    wer_single, _ = score([(j.id, r, t.text) for j, r, (_, t) in zip(jobs, refs, single)])
    assert wer_packed["wer"] <= wer_single["wer"] + 0.03
    for job, (record, t) in zip(jobs, packed):
        assert record.status == "ok" and t.segments
        words = [w for s in t.segments for w in s.words]
        assert all(0 <= w.start <= w.end <= job.duration + 0.05 for w in words)


class _LoopingEngine(Engine):
    """Decodes the way Whisper fails on a hard piece: one phrase over and over, unless told to be careful."""
    name, model, versions, supports_packing, model_seconds = "stub", "stub", {}, False, 0.0

    def __init__(self, careful_fixes_it: bool):
        self.careful_fixes_it, self.calls = careful_fixes_it, []

    def transcribe(self, audio, settings, *, safer=False, packed=False, hint=None) -> Decoded:
        from callscribe.records import Segment

        self.calls.append(safer)
        text = "thanks for calling." if safer and self.careful_fixes_it else "thank you for calling " * 30
        return Decoded([Segment(0.0, len(audio) / SAMPLE_RATE, text.strip())], "en")


@pytest.mark.parametrize("careful_fixes_it", [True, False])
def test_repetition_loop_is_retried_with_safer_decoding_and_flagged(sample_audio, careful_fixes_it):
    engine = _LoopingEngine(careful_fixes_it)
    job = Job("jfk", str(find_sample(sample_audio, JFK)), "x", 11.0)
    record, transcript = transcribe_file(engine, job, TranscribeSettings(workers=1, diarize=False).resolved())
    assert engine.calls == [False, True]  # decoded, judged a loop, decoded again with safer settings
    (warning,) = record.warnings
    assert warning.startswith("implausible: 120 words in 11 s of audio at 0 s; retried with safer decoding")
    if careful_fixes_it:
        assert transcript.text == "thanks for calling." and "still" not in warning
    else:
        assert "still implausible" in warning and record.status == "ok"  # kept, but flagged for a person to check
