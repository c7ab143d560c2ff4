"""`transcribe.vocabulary`: the company's own words come out right, and speech without them is left alone."""

import numpy as np
import pytest

from callscribe.audio import SAMPLE_RATE, load_audio
from callscribe.engines import Decoded, load_engine
from callscribe.evaluate import normalize
from callscribe.records import Segment
from callscribe.relisten import refine
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import transcribe_audio
from callscribe.vocabulary import hint, holds, near_terms, terms
from tests.helpers import find_sample

PRINTERS = "1758821279"  # LJ001-0031: "...Sweynheim and Pannartz began printing in the monastery of Subiaco near Rome"


def test_vocabulary_is_a_list_or_a_file(tmp_path):
    assert terms(None) == [] and terms([]) == [] and hint([]) is None
    assert terms([" Alliance Insurance ", ""]) == ["Alliance Insurance"]
    path = tmp_path / "terms.txt"
    path.write_text("# our products\nAlliance Insurance\n\nGold Shield  # the plan\n")
    assert terms(str(path)) == ["Alliance Insurance", "Gold Shield"]
    assert hint(str(path)) == "Alliance Insurance, Gold Shield."
    with pytest.raises(ValueError, match="not a file"):
        terms(str(tmp_path / "missing.txt"))
    # A file's terms enter the settings (and so the hash): editing the file re-transcribes.
    settings = TranscribeSettings(vocabulary=str(path)).resolved()
    assert settings.vocabulary == ["Alliance Insurance", "Gold Shield"]
    assert settings.hash() != TranscribeSettings().resolved().hash()


def test_no_vocabulary_keeps_the_settings_hash():
    # Transcripts made before the field existed stay valid: an empty list is left out of the hash.
    assert TranscribeSettings(vocabulary=[]).resolved().hash() == TranscribeSettings().resolved().hash()


@pytest.mark.slow
def test_rare_names_come_out_right_with_the_vocabulary(sample_audio):
    audio = load_audio(find_sample(sample_audio, PRINTERS))
    names = ["Sweynheim", "Pannartz", "Subiaco"]
    plain = TranscribeSettings(workers=1, diarize=False, engine="faster-whisper").resolved()
    biased = TranscribeSettings(workers=1, diarize=False, engine="faster-whisper", vocabulary=names).resolved()
    engine = load_engine(plain)
    without = normalize(transcribe_audio(engine, audio, plain)[0].text)
    with_vocab = normalize(transcribe_audio(engine, audio, biased)[0].text)
    # Measured: "Swayneheim and Patterts ... Subeyakal" without; "Sweynheim" with (the one name nearly said, so
    # the one hinted: hinting names only half like their words let them leak into other speech, docs/PERFORMANCE.md).
    said = sum(n.lower() in without.split() for n in names)
    assert said <= 1
    assert sum(n.lower() in with_vocab.split() for n in names) > said
    assert "rome" in with_vocab.split() and "monastery" in with_vocab.split()


def test_a_term_is_near_when_some_of_its_words_sound_alike_but_it_is_not_said():
    # Heard on the telephone line (bench/vocabulary.py): each nearly says the term.
    assert near_terms("and you are calling a lion's insurance, is it Maria speaking?", ["Alliance Insurance"]) == ["Alliance Insurance"]
    assert near_terms("Swainheim and Pannarch began printing", ["Sweynheim", "Pannartz", "Gold Shield"]) == ["Sweynheim", "Pannartz"]
    assert near_terms("Please hold while I transfer you to the medicommer team.", ["Medicover"]) == ["Medicover"]
    # Said already, or nothing like it, or too short to tell by its letters: not decoded again.
    assert near_terms("Thank you for calling Alliance Insurance.", ["Alliance Insurance"]) == []
    assert near_terms("Could you tell me your date of birth, please?", ["Jenson", "Caxton", "Medicover", "Alliance Insurance"]) == []
    assert near_terms("um, I think so", ["Ulm"]) == []
    assert holds("the gold-shield plan", "Gold Shield") and not holds("the golden shield", "Gold Shield")


class _Scripted:
    """An engine answering each second listen with the next of some set texts, noting what it was asked."""

    def __init__(self, *texts: str):
        self.texts, self.hints = list(texts), []

    def transcribe(self, audio, settings, *, safer=False, packed=False, hint=None) -> Decoded:
        self.hints.append((len(audio) / SAMPLE_RATE, hint))
        return Decoded([Segment(0.1, 1.5, self.texts[min(len(self.hints), len(self.texts)) - 1])])


def test_a_second_listen_is_kept_only_when_it_confirms_a_term():
    settings = TranscribeSettings(vocabulary=["Alliance Insurance", "Gold Shield", "Longman"]).resolved()
    mono = np.zeros(60 * SAMPLE_RATE, np.float32)
    segments = [Segment(1.0, 3.0, "thank you for calling a lion's insurance,"), Segment(3.2, 5.0, "about your goal shield plan"),
                Segment(6.0, 8.0, "how can I help you"), Segment(40.0, 42.0, "the gold field plan")]
    heard = _Scripted("Thank you for calling Alliance Insurance, about your Gold Shield plan.", "the gold field plan")
    out = refine(heard, mono, segments, settings)
    # Neighbours nearly saying terms are heard again together, once, with the terms they are like.
    seconds, words = heard.hints[0]
    assert seconds == pytest.approx(4.4) and {"Alliance Insurance", "Gold Shield"} <= set(words.rstrip(".").split(", "))
    assert [(s.start, s.text) for s in out[:2]] == [
        (pytest.approx(0.9), "Thank you for calling Alliance Insurance, about your Gold Shield plan."), (6.0, "how can I help you")]
    assert len(heard.hints) == 2 and out[2] == segments[3]  # heard again alone; "Gold Shield" did not come out, so it stays
    assert refine(_Scripted("thank you for calling a line insurance"), mono, segments, settings) == segments
    # The hint written back instead of the speech is refused: the first text's words are gone.
    assert refine(_Scripted("Longman, Alliance Insurance."), mono, segments[:1], settings) == segments[:1]
    # So is a hint that started a loop.
    looped = "thank you for calling Alliance Insurance" + ", Alliance Insurance" * 8
    assert refine(_Scripted(looped), mono, segments[:1], settings) == segments[:1]
    assert refine(heard, mono, segments, TranscribeSettings().resolved()) == segments  # no vocabulary: nothing to do


@pytest.mark.slow
def test_speech_without_the_terms_is_not_decoded_again_and_keeps_its_text(sample_audio):
    audio = load_audio(find_sample(sample_audio, PRINTERS))
    plain = TranscribeSettings(workers=1, diarize=False, engine="faster-whisper").resolved()
    company = TranscribeSettings(workers=1, diarize=False, engine="faster-whisper",
                                 vocabulary=["Alliance Insurance", "Gold Shield", "HomeSecure Plus", "Medicover"]).resolved()
    engine = load_engine(plain)
    calls = []
    decode = engine.transcribe
    engine.transcribe = lambda *a, **k: calls.append(k.get("hint")) or decode(*a, **k)
    without = transcribe_audio(engine, audio, plain)[0]
    with_vocab = transcribe_audio(engine, audio, company)[0]
    assert with_vocab.text == without.text and with_vocab.segments == without.segments
    assert calls == [None, None]  # one decode each, no hint given
