"""faster-whisper's lock-step batches (callscribe/engines/whisper_batch.py) against one piece at a time,
on real audio: the text must not lose words, and the same audio must give the same text again."""

import json

import jiwer
import pytest

from callscribe.audio import cut_at_pauses, load_audio, to_mono
from callscribe.engines import load_engine, whisper_batch
from callscribe.evaluate import normalize, score
from callscribe.settings import TranscribeSettings
from tests.helpers import SHARED, find_sample

LJ = SHARED / "gsm8k" / "lj_longform_5min_22k"  # 5 minutes of read speech
WOZ = SHARED / "gsm8k" / "spokenwoz_calls_8k"  # real two-party telephone calls, mono
LONG_CALL, JFK = "1758833185", "1758662274"  # sample calls: 300 s of read speech; 11 s


def settings(batch_size, **kw):
    return TranscribeSettings(engine="faster-whisper", workers=1, cpu_threads=1, batch_size=batch_size, **kw).resolved()


def reference(folder, name):
    return next(d["text"] for d in map(json.loads, (folder / "manifest.jsonl").read_text().splitlines()) if d["audio"] == name)


def pieces_of(paths, minutes):
    """Each call cut at pauses as the transcribe stage cuts it: several streams per call."""
    out, owner = [], []
    for k, path in enumerate(paths):
        mono = to_mono(load_audio(path))
        for a, b in cut_at_pauses(mono, minutes * 60):
            out.append(mono[a:b])
            owner.append(k)
    return out, owner


def texts(decoded, owner, calls):
    return [" ".join(d.text for d, o in zip(decoded, owner) if o == k) for k in range(calls)]


def test_only_plain_beam_search_with_a_known_language_is_decoded_in_lock_step():
    assert whisper_batch.supports(dict(language="en", beam_size=2, temperature=0.0, vad_filter=True))
    assert not whisper_batch.supports(dict(language=None, temperature=0.0))  # detection is per piece
    assert not whisper_batch.supports(dict(language="en", temperature=[0.2, 0.4]))  # the retry's sampling fallback
    assert not whisper_batch.supports(dict(language="en", temperature=0.0, hotwords="Acme"))


def test_lock_step_gives_the_sample_calls_the_one_by_one_text(sample_audio):
    engine = load_engine(settings(1, model="tiny.en"))
    paths = [find_sample(sample_audio, k) for k in (LONG_CALL, JFK)]
    pieces, owner = pieces_of(paths, 1)
    alone = engine.transcribe_many(pieces, settings(1, model="tiny.en"))
    together = engine.transcribe_many(pieces, settings(3, model="tiny.en"))
    assert len(pieces) >= 5 and all(d.text for d in alone)
    assert [d.text for d in together] == [d.text for d in alone]
    assert engine.minutes_at_once(settings(3)) == 3 * settings(3).max_chunk_minutes  # a slot per stream


@pytest.mark.slow
def test_lock_step_loses_no_words_on_read_speech_and_a_two_party_call():
    calls = [(LJ, "LJ001_part01.wav"), (WOZ, "SNG0072.wav")]
    paths, refs = [folder / name for folder, name in calls], [reference(folder, name) for folder, name in calls]
    engine = load_engine(settings(1))
    pieces, owner = pieces_of(paths, 1)  # 1-minute pieces: streams of both calls share the batch
    alone = texts(engine.transcribe_many(pieces, settings(1)), owner, len(calls))
    together = texts(engine.transcribe_many(pieces, settings(4)), owner, len(calls))
    for one, batched, ref in zip(alone, together, refs):
        assert jiwer.wer(normalize(one), normalize(batched)) <= 0.01  # measured here: the same text
        (m1, _), (m4, _) = score([("a", ref, one)]), score([("a", ref, batched)])
        assert m4["deletions"] <= m1["deletions"] and m4["wer"] <= m1["wer"] + 0.005, (m1, m4)
    assert texts(engine.transcribe_many(pieces, settings(4)), owner, len(calls)) == together  # the same text twice


def test_longer_calls_share_a_worker_task_only_when_batched():
    from callscribe.calls import Job
    from callscribe.runner import groups, together_seconds

    jobs = [Job(f"c{i}", f"c{i}.wav", "", d) for i, d in enumerate([1200, 300, 290, 280, 250, 8, 6, 5])]
    assert together_seconds(settings(1)) == 0 and together_seconds(settings(4)) == 4 * 5 * 60
    assert [[j.id for j in g] for g in groups(jobs, 10)] == [["c0"], ["c1"], ["c2"], ["c3"], ["c4"], ["c5", "c6", "c7"]]
    # up to 20 minutes of longer calls a task: the 20-minute call alone, four 4-5 minute calls together; short ones packed
    assert [[j.id for j in g] for g in groups(jobs, 10, 1200)] == [["c0"], ["c1", "c2", "c3", "c4"], ["c5", "c6", "c7"]]
