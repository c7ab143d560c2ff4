"""A batch of calls: plan pieces -> `Engine.transcribe_many` -> assemble per call, with the fake engine
(tests/fake_engine.py) on the real sample calls: no model, so these are the fast tier's."""

import pytest

from callscribe.calls import Job, transcribe_files
from callscribe.settings import TranscribeSettings
from tests.fake_engine import FakeEngine
from tests.helpers import find_sample

LONG_CALL, JFK, SILENT = "1758833185", "1758662274", "1757258616"  # 300 s of read speech; 11 s; silence
STEREO = "1758395419"  # the stereo call: one speaker a channel


def settings(**kw):
    return TranscribeSettings(**{"workers": 1, "diarize": False, **kw}).resolved()


def jobs_for(sample_audio, *keys):
    return [Job(k, str(find_sample(sample_audio, k)), k, 20.0) for k in keys]


def test_the_pieces_of_several_calls_go_to_the_engine_together(sample_audio):
    engine = FakeEngine("hello there", supports_packing=False)
    results = transcribe_files(engine, jobs_for(sample_audio, JFK, LONG_CALL), settings(max_chunk_minutes=2))
    # jfk (one piece) and the first piece of the long call fit in 2 minutes; the long call's other pieces come one by one
    assert engine.batches[0] == 2 and sum(engine.batches) == 1 + 3
    (jfk, t1), (long, t2) = results
    assert jfk.status == long.status == "ok" and t1.text == "hello there"
    assert t2.text == " ".join(["hello there"] * 3)
    assert [round(s.start) for s in t2.segments] == [0, round(t2.segments[1].start), round(t2.segments[2].start)]
    assert 90 <= t2.segments[1].start <= 120 and t2.segments[2].start > t2.segments[1].start  # each piece in call time


def test_progress_is_reported_per_piece_of_a_long_call_through_the_callback(sample_audio):
    seen = []
    transcribe_files(FakeEngine(supports_packing=False), jobs_for(sample_audio, LONG_CALL, JFK), settings(max_chunk_minutes=1),
                     progress=seen.append)
    assert {k for k, _ in seen} == {LONG_CALL}  # the one-piece call moves the bar when written, not here
    assert len(seen) >= 5 and sum(s for _, s in seen) == pytest.approx(300.0, abs=1.0)


def test_voice_without_words_is_no_words_and_silence_is_no_speech(sample_audio):
    engine = FakeEngine("", supports_packing=False)  # the decoder writes nothing, whatever it hears
    results = dict((r.id, r) for r, _ in transcribe_files(engine, jobs_for(sample_audio, JFK, SILENT), settings()))
    assert results[JFK].status == "no_words" and "voice was found" in results[JFK].warnings[0]
    assert results[SILENT].status == "no_speech" and results[SILENT].warnings == []
    assert [round(h.seconds) for h in engine.heard if abs(h.seconds - 11) < 1.5] == [11, 11]  # heard again, once


def test_words_on_the_second_try_are_kept_and_the_call_is_ok(sample_audio):
    engine = FakeEngine(lambda heard: "ask not" if len(engine.heard) > 1 else "", supports_packing=False)
    (record, transcript), = transcribe_files(engine, jobs_for(sample_audio, JFK), settings())
    assert record.status == "ok" and transcript.text == "ask not" and record.warnings == []


def test_a_call_whose_decoding_raises_in_a_batch_leaves_the_others_done(sample_audio):
    def script(heard):
        if heard.seconds > 100:
            raise MemoryError()
        return "fine"

    results = transcribe_files(FakeEngine(script, supports_packing=False), jobs_for(sample_audio, JFK, LONG_CALL), settings())
    (jfk, t1), (long, t2) = results
    assert jfk.status == "ok" and t1.text == "fine"
    assert long.status == "error" and "MemoryError" in long.reason and t2 is None


def test_a_loop_is_retried_with_safer_decoding(sample_audio):
    engine = FakeEngine(lambda heard: "fine thanks" if heard.safer else "thank you " * 40, supports_packing=False)
    (record, transcript), = transcribe_files(engine, jobs_for(sample_audio, JFK), settings())
    assert transcript.text == "fine thanks" and "retried with safer decoding" in record.warnings[0]


def test_a_window_whisper_found_looping_is_retried_although_the_piece_reads_fine(sample_audio):
    # A 30 s window looping in a 5-minute piece hardly moves the piece's own ratios; Whisper's ratio
    # for the window (above 2.4) does, as on the archive-shaped check half's 17-minute call.
    class OneLoopedWindow(FakeEngine):
        def transcribe(self, audio, settings, **kw):
            decoded = super().transcribe(audio, settings, **kw)
            for seg in decoded.segments:
                seg.compression_ratio = 1.5 if kw.get("safer") else 9.2
            return decoded

    engine = OneLoopedWindow(lambda heard: "fine thanks" if heard.safer else "do not ask me", supports_packing=False)
    (record, transcript), = transcribe_files(engine, jobs_for(sample_audio, JFK), settings())
    assert transcript.text == "fine thanks" and "compresses 9.2x" in record.warnings[0]
    assert [h.safer for h in engine.heard] == [False, True]


def test_a_stereo_call_is_two_parts_named_by_channel(sample_audio):
    engine = FakeEngine("yes", supports_packing=False)
    (record, transcript), = transcribe_files(engine, jobs_for(sample_audio, STEREO), settings(diarize=True))
    assert engine.batches[0] == 2  # both channels in one batch
    assert {s.speaker for s in transcript.segments} == {"agent", "caller"} and set(transcript.speakers) == {"agent", "caller"}
