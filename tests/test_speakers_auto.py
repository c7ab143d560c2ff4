"""`speakers: auto` on phone calls: one voice comes out as one speaker, two parties as two; speaker
changes fall between words and near where the voices change; parties are named agent and caller
only on an agent's words; each segment carries a confidence."""

import json

import pytest

from callscribe.audio import load_audio, to_mono
from callscribe.diarize import diarizer, diarizer_for
from callscribe.engines import load_engine
from callscribe.evaluate import load_turns
from callscribe.records import Segment
from callscribe.roles import name_parties
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import transcribe_audio
from tests.helpers import SAMPLES, SHARED, find_sample

TWO_SPEAKERS = "1758390537"  # GSM mono, alternating LJ Speech / LibriVox turns
# The 5-minute LJ long-form (slow: ~20 s alone, 90 s on a loaded machine), jfk, three LJ clips.
ONE_VOICE = [pytest.param("1758833185", marks=pytest.mark.slow), "1758662274", "1757343041", "1758988711", "1757880741"]


MODELS = ["campplus", "dvector"]  # transcribe.speaker_model


def speakers_of(path, model: str = "campplus") -> set[str]:
    return {t.speaker for t in diarizer_for(model).turns(to_mono(load_audio(path)), "auto")}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("call", ONE_VOICE)
def test_a_one_voice_call_is_one_speaker(sample_audio, call, model):
    # Before: the short ones came out as 2 or 3 speakers (the mean of a few 0.8 s d-vectors is noisy).
    assert len(speakers_of(find_sample(sample_audio, call), model)) == 1


@pytest.mark.parametrize("model", MODELS)
def test_a_two_party_call_is_two_speakers(sample_audio, model):
    assert len(speakers_of(find_sample(sample_audio, TWO_SPEAKERS), model)) == 2


def test_one_voice_split_in_two_flickers_two_voices_do_not(sample_audio):
    """What `auto` decides one voice or two by (the production split, principal directions and all):
    a forced split of one voice follows what is said and changes side between neighbouring windows;
    a split between two people holds for whole turns."""
    from callscribe import voices

    def split_coherence(part):
        audio = to_mono(load_audio(find_sample(sample_audio, part)))
        w = diarizer().windows(audio)
        return voices.coherence(voices.two_way_split(w.emb), w.region_of)

    assert split_coherence(TWO_SPEAKERS) > 0.9
    for part in ONE_VOICE[2:]:  # the LJ clips: 8-10 s of one voice
        assert split_coherence(part) < voices.COHERENT, part


@pytest.mark.parametrize("model", MODELS)
def test_speaker_changes_land_near_the_reference_turn_edges(sample_audio, model):
    """Resegmentation: every change of speaker the reference has (six alternating turns) is found
    within 0.5 s, and no other change is invented."""
    path = find_sample(sample_audio, TWO_SPEAKERS)
    turns = diarizer_for(model).turns(to_mono(load_audio(path)), "auto")
    found = [b.start for a, b in zip(turns, turns[1:]) if a.speaker != b.speaker]
    ref = [t for t in load_turns(SAMPLES / "rttm" / f"{path.stem}.rttm").itertracks(yield_label=True)]
    edges = [b[0].start for a, b in zip(ref, ref[1:]) if a[2] != b[2]]
    assert len(found) == len(edges), (found, edges)
    assert all(abs(f - e) < 0.5 for f, e in zip(found, edges)), (found, edges)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "timit_nltk_sample_16k").is_dir(), reason="needs ../shared/data (TIMIT, speechocean762)")
# campplus splits call 7's voicemail: its first sentence (3 s) comes out a second voice, 0.64 alike (its words
# all get the main speaker: WDER 0 on the check half, docs/PERFORMANCE.md).
@pytest.mark.parametrize("model", ["dvector", pytest.param("campplus", marks=pytest.mark.xfail(
    strict=True, reason="campplus: call 7's voicemail has a 3 s first sentence CAM++ hears as another voice"))])
def test_voicemails_of_the_dev_set_are_one_speaker(tmp_path, model):
    from scripts.make_twoparty import build

    rows = build(SHARED, tmp_path, calls=8)  # calls 3 and 7 are voicemails (a TIMIT or speechocean762 voice)
    voicemails = [r for r in rows if r["kind"] == "voicemail"]
    assert len(voicemails) == 2
    for r in voicemails:
        assert len(speakers_of(tmp_path / r["audio"], model)) == 1, r
    # Call 2: a caller who says little (about 7 s in all). The earlier rule (a voice needs 8 s)
    # made it one speaker (DER 47.5 %); the coherence test keeps both.
    short = tmp_path / rows[2]["audio"]
    turns = diarizer_for(model).turns(to_mono(load_audio(short)), "auto")
    assert len({t.speaker for t in turns}) == 2
    from pyannote.core import Annotation, Segment

    from callscribe.evaluate import diarization_error

    hyp = Annotation()
    for t in turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    result = diarization_error(load_turns(tmp_path / rows[2]["rttm"]), hyp, uem=(0, rows[2]["duration"]))
    assert result["confusion_s"] < 0.2 * result["speech_s"], result


@pytest.mark.slow
def test_auto_speakers_change_only_between_words_with_a_confidence(sample_audio):
    settings = TranscribeSettings(workers=1, diarize=True, speakers="auto").resolved()
    transcript, _ = transcribe_audio(load_engine(settings), load_audio(find_sample(sample_audio, TWO_SPEAKERS)), settings)
    assert len(transcript.speakers) == 2
    for seg in transcript.segments:
        # A segment is one speaker's, whole words only: its text is exactly its words.
        assert {w.speaker for w in seg.words} == {seg.speaker}
        assert seg.text == "".join(w.word for w in seg.words).strip() or len(transcript.segments) == 1
        assert 0.0 <= seg.speaker_confidence <= 1.0
    # No word is cut: consecutive segments never share a word's time span.
    words = [w for s in transcript.segments for w in s.words]
    assert all(a.end <= b.start + 1e-3 or a.start == b.start for a, b in zip(words, words[1:]))
    # Six turns of read speech: most segments are confidently one speaker's.
    confident = [s.speaker_confidence for s in transcript.segments if s.speaker_confidence >= 0.7]
    assert len(confident) >= len(transcript.segments) / 2


def test_parties_are_named_from_an_agents_words_only():
    def seg(who, text):
        return Segment(0.0, 1.0, text, None, who)

    call = [seg("SPEAKER_00", "hello"), seg("SPEAKER_01", "hi customer service how can I help you"),
            seg("SPEAKER_00", "I am looking for a train to Leicester")]  # SpokenWOZ SNG0072: the caller speaks first
    named, found = name_parties(call, ["agent", "caller"])
    assert [s.speaker for s in named] == ["caller", "agent", "caller"] and found["confidence"] >= 0.8
    # No agent's phrase, or both parties using one: no evidence, the labels stay.
    plain = [seg("SPEAKER_00", "hello"), seg("SPEAKER_01", "hi there")]
    assert name_parties(plain, ["agent", "caller"]) == (plain, {"agent": "SPEAKER_00", "caller": "SPEAKER_01", "confidence": 0.5})
    both = [seg("SPEAKER_00", "how can I help you"), seg("SPEAKER_01", "thank you for calling")]
    assert name_parties(both, ["agent", "caller"])[0] == both


def test_an_outbound_agent_is_named_from_where_they_call_from():
    def seg(who, text):
        return Segment(0.0, 1.0, text, None, who)

    call = [seg("SPEAKER_00", "Hello?"), seg("SPEAKER_01", "Hi, this is Maria calling from Northfield Insurance about your renewal."),
            seg("SPEAKER_00", "Oh, yes."), seg("SPEAKER_01", "Can I have your date of birth, please?"),
            seg("SPEAKER_00", "My date of birth is the 3rd of May 1970.")]
    named, found = name_parties(call, ["agent", "caller"])
    assert [s.speaker for s in named] == ["caller", "agent", "caller", "agent", "caller"]
    assert found == {"agent": "agent", "caller": "caller", "confidence": found["confidence"]} and found["confidence"] > 0.95
    # One weak hint (a polite goodbye) is not enough: the generic labels stay, the guess is kept.
    weak = [seg("SPEAKER_00", "Right, see you then."), seg("SPEAKER_01", "Have a nice day.")]
    named, found = name_parties(weak, ["agent", "caller"])
    assert named == weak and found["agent"] == "SPEAKER_01" and 0.5 < found["confidence"] < 0.8


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "gsm8k" / "spokenwoz_calls_8k").is_dir(), reason="needs ../shared/data (SpokenWOZ)")
@pytest.mark.parametrize("model", MODELS)
def test_real_service_call_names_the_agent(model):
    """With `speakers: auto`. With campplus its two voices are too alike for the cosine alone (one
    line, one codec); the text's second opinion keeps the two (speaker_words.labelled_turns)."""
    folder = SHARED / "gsm8k" / "spokenwoz_calls_8k"
    row = next(r for r in map(json.loads, (folder / "manifest.jsonl").read_text().splitlines()) if r["audio"] == "SNG0072.wav")
    settings = TranscribeSettings(workers=1, diarize=True, speaker_model=model).resolved()
    transcript, _ = transcribe_audio(load_engine(settings), load_audio(folder / row["audio"]), settings)
    assert set(transcript.speakers) == {"agent", "caller"} and transcript.roles["confidence"] >= 0.8
    agent_text = " ".join(s.text for s in transcript.segments if s.speaker == "agent").lower()
    assert "help" in agent_text


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "spokenwoz_calls_8k" / "stereo").is_dir(), reason="needs ../shared/data (SpokenWOZ stereo)")
def test_a_real_call_gets_its_words_right_and_changes_between_sentences(tmp_path):
    """MUL1423 (tuning half): the stereo original, mixed to one GSM line, transcribed with the defaults;
    the reference is who speaks on which clean channel."""
    from callscribe.speaker_metrics import speaker_changes, wder
    from scripts.make_dialogue_calls import build

    row = next(r for r in build(SHARED, None, tmp_path) if r["audio"] == "MUL1423.wav")
    settings = TranscribeSettings(workers=1, diarize=True).resolved()
    transcript, _ = transcribe_audio(load_engine(settings), load_audio(tmp_path / row["audio"]), settings)
    words = [w for s in transcript.segments for w in s.words]
    scored = wder(load_turns(tmp_path / row["rttm"]), words)
    assert scored["words"] > 150 and scored["wder"] < 0.05, scored
    assert speaker_changes(words)["mid_sentence_share"] <= 0.08
    assert transcript.roles["confidence"] >= 0.8 and scored["mapping"] == {"agent": "agent", "caller": "caller"}
