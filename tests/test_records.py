"""Records and the files written from them: journal lines, transcripts, subtitles, RTTM."""

import json
import os
import stat

from callscribe.fileio import atomic_write, read_jsonl, write_jsonl
from callscribe.journal import Journal
from callscribe.outputs import to_rttm, to_srt, to_vtt, write_transcript
from callscribe.records import ERROR, OK, CallRecord, Segment, Transcript, Word


def transcript(speakers=False) -> Transcript:
    a, b = ("agent", "caller") if speakers else (None, None)
    segs = [Segment(0.0, 1.5, "Hello, thanks for calling.", [Word(0.0, 0.5, " Hello,", 0.9, a), Word(0.6, 1.5, " thanks", 0.8, a)], a,
                    avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.1, speaker_confidence=0.93 if speakers else None),
            Segment(3661.25, 3662.0, "Hi.", None, b)]
    return Transcript("Hello, thanks for calling. Hi.", "en", 3662.0, segs, {"agent": 1.5, "caller": 0.75} if speakers else None)


def test_call_record_round_trips_through_the_journal(tmp_path):
    record = CallRecord(id="a/b", path="x.wav", sha256="ab12", engine="faster-whisper", model="base",
                        versions={"callscribe": "0.1.0"}, settings_hash="h1", status=OK, audio_seconds=12.5, warnings=["w"],
                        wall_seconds=3.2, model_seconds=2.9, cpu_seconds=3.0, json="a/b.json", finished="2025-01-01T00:00:00+0000",
                        node="mac-1", redactions={"card": 1}, redacted="sig", restored=True)
    failed = CallRecord(id="c", path="c.wav", sha256="cd34", engine="faster-whisper", model="base", settings_hash="h1", status=ERROR,
                        reason="cannot decode c.wav")
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append(record.to_dict())
    journal.append(failed.to_dict())
    entries = journal.entries()
    assert entries["a/b"]["json"] == "a/b.json" and entries["a/b"]["finished"] == "2025-01-01T00:00:00+0000"
    assert entries["a/b"]["cpu_seconds"] == 3.0 and entries["a/b"]["redactions"] == {"card": 1}
    assert CallRecord.from_dict(entries["a/b"]) == record
    assert "json" not in entries["c"] and CallRecord.from_dict(entries["c"]) == failed
    # A line from a newer version with a field this one lacks still reads.
    assert CallRecord.from_dict({**entries["c"], "new_field": 1}) == failed


def test_transcript_round_trips_through_json():
    for t in (transcript(), transcript(speakers=True)):
        d = json.loads(json.dumps(t.to_dict()))
        assert Transcript.from_dict(d) == t
        assert [s["id"] for s in d["segments"]] == [0, 1] and "words" not in d["segments"][1]


def test_srt_and_vtt_have_clock_times_and_speakers():
    t = transcript(speakers=True)
    assert to_srt(t) == ("1\n00:00:00,000 --> 00:00:01,500\n[agent] Hello, thanks for calling.\n\n"
                         "2\n01:01:01,250 --> 01:01:02,000\n[caller] Hi.\n")
    assert to_vtt(t) == ("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n[agent] Hello, thanks for calling.\n\n"
                         "01:01:01.250 --> 01:01:02.000\n[caller] Hi.\n")
    assert to_srt(transcript()).splitlines()[2] == "Hello, thanks for calling."


def test_rttm_has_one_line_per_speaker_segment(tmp_path):
    t = transcript(speakers=True)
    assert to_rttm(t, "call1") == ("SPEAKER call1 1 0.000 1.500 <NA> <NA> agent <NA> <NA>\n"
                                   "SPEAKER call1 1 3661.250 0.750 <NA> <NA> caller <NA> <NA>\n")
    written = write_transcript(t, tmp_path / "call1", ["json", "txt"])
    assert [p.name for p in written] == ["call1.json", "call1.txt", "call1.rttm"]
    assert write_transcript(transcript(), tmp_path / "call2", ["json"]) == [tmp_path / "call2.json"]  # no speakers: no RTTM


def test_atomic_write_gives_the_mode_the_umask_allows(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "a.txt", "x")
        write_jsonl(tmp_path / "b.jsonl", [{"k": "é"}])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert read_jsonl(tmp_path / "b.jsonl") == [{"k": "é"}]
    assert not list(tmp_path.glob(".*.tmp"))
