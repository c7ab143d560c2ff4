"""Speakers on words: changes at sentence ends or pauses unless the voices say otherwise, short
sentences kept as their speaker's, and the metrics that count it (WDER, mid-sentence changes)."""

import numpy as np
from pyannote.core import Annotation
from pyannote.core import Segment as Span

from callscribe.diarize import Turn, Turns
from callscribe.records import Segment, Word
from callscribe.roles import guess
from callscribe.speaker_metrics import role_outcome, speaker_changes, wder
from callscribe.speaker_words import assign_speakers, labelled_turns


def words_of(text: str, start: float, step: float = 0.35, gap: float = 0.05) -> list[Word]:
    out, t = [], start
    for w in text.split():
        out.append(Word(round(t, 3), round(t + step - gap, 3), " " + w, 0.9))
        t += step
    return out


def evidence(voice_at, end: float, centres=None) -> Turns:
    """Windows every 0.4 s (or at `centres`) whose cosine to voice 0 and voice 1 is `voice_at(t)`;
    turns by the larger."""
    centres = np.arange(0.4, end, 0.4) if centres is None else np.array(centres)
    scores = np.array([voice_at(c) for c in centres])
    labels = scores.argmax(1)
    turns = [Turn(round(c - 0.2, 3), round(c + 0.2, 3), f"SPEAKER_{k:02d}") for c, k in zip(centres, labels)]
    return Turns(turns, centres, labels, scores)


def speakers(segments):
    return [(w.word.strip(), w.speaker[-1]) for s in segments for w in s.words]


def test_a_change_the_voices_barely_support_moves_to_the_sentence_end():
    # Voice 0 asks; voice 1 answers straight after, but the windows lag: its first three words still
    # sound like voice 0 (weakly), as 0.8 s windows straddling a turn edge do.
    ask, answer = words_of("What kind of place?", 0.0), words_of("I prefer a three-star guest house.", 1.4)
    turns = evidence(lambda t: (0.6, 0.1) if t < 1.2 else (0.35, 0.3) if t < 2.4 else (0.1, 0.6), 4.0)
    out = assign_speakers([Segment(0.0, 3.85, "What kind of place? I prefer a three-star guest house.", ask + answer)], turns)
    assert speakers(out) == [(w.word.strip(), "0") for w in ask] + [(w.word.strip(), "1") for w in answer]
    assert [s.text for s in out] == ["What kind of place?", "I prefer a three-star guest house."]
    assert speaker_changes([w for s in out for w in s.words]) == {"changes": 1, "mid_sentence": 0, "mid_sentence_share": 0.0}


def test_a_short_answer_between_two_sentences_of_the_other_keeps_its_speaker():
    # Pauses of 0.45 s around it: the VAD gives it a region and a window of its own.
    first, short, second = words_of("Can you book it for Friday?", 0.0), words_of("Of course.", 2.5), words_of("And a table too.", 3.65)
    centres = [0.4, 0.8, 1.2, 1.6, 2.75, 4.05, 4.45, 4.65]
    turns = evidence(lambda t: (0.2, 0.5) if 2.5 < t < 3.0 else (0.6, 0.1), 5.0, centres)
    out = assign_speakers([Segment(0.0, 5.0, "", first + short + second)], turns)
    assert [who for _, who in speakers(out)] == ["0"] * 6 + ["1", "1"] + ["0"] * 4


def test_a_clear_change_inside_an_unpunctuated_run_stays():
    # The recogniser wrote two parties' words as one sentence; the voices differ clearly.
    words = words_of("yes that is right and the policy number is four", 0.0, step=0.3)
    turns = evidence(lambda t: (0.7, 0.0) if t < 1.5 else (0.0, 0.7), 3.2)
    out = assign_speakers([Segment(0.0, 3.0, "", words)], turns)
    labels = [who for _, who in speakers(out)]
    assert labels[:4] == ["0"] * 4 and labels[-4:] == ["1"] * 4


def test_wder_maps_labels_and_counts_wrong_words():
    ref = Annotation()
    ref[Span(0.0, 2.0)] = "agent"
    ref[Span(2.0, 4.0)] = "caller"
    words = words_of("one two three four five six seven eight nine ten", 0.0, step=0.4)
    for i, w in enumerate(words):
        w.speaker = "SPEAKER_01" if i < 5 else "SPEAKER_00"  # labels swapped: no error after the mapping
    assert wder(ref, words)["wder"] == 0.0
    words[4].speaker = "SPEAKER_00"  # "five" (1.6-1.95 s) given to the caller
    result = wder(ref, words)
    assert result["wrong"] == 1 and result["wder"] == 0.1 and result["mapping"] == {"SPEAKER_01": "agent", "SPEAKER_00": "caller"}
    assert role_outcome({"agent": "SPEAKER_01", "caller": "SPEAKER_00", "confidence": 0.9}, result["mapping"], True) == "right"
    weak = {"agent": "SPEAKER_00", "caller": "SPEAKER_01", "confidence": 0.6}
    assert role_outcome(weak, result["mapping"], False) == "generic, guess wrong"
    # The change after "four" (no full stop, next word 0.05 s later) is mid-sentence.
    assert speaker_changes(words) == {"changes": 1, "mid_sentence": 1, "mid_sentence_share": 1.0}


def test_auto_keeps_the_two_way_split_only_when_its_words_read_as_agent_and_caller():
    # `speakers: auto` found one voice (CAM++'s halves too alike); its two-way split is the second opinion.
    agent = words_of("Thank you for calling, how can I help you?", 0.0)
    caller = words_of("Hi, I'm looking for a cheap hotel, I'd like to book a room.", 4.0)
    one = Turns([Turn(0.0, 10.0, "SPEAKER_00")], np.arange(0.4, 10.0, 0.4), np.zeros(24, int), np.ones((24, 1)))
    one.two_way = evidence(lambda t: (0.6, 0.1) if t < 3.8 else (0.1, 0.6), 10.0)
    segments = [Segment(0.0, 3.8, "".join(w.word for w in agent), words=agent),
                Segment(4.0, 8.6, "".join(w.word for w in caller), words=caller)]
    turns, labelled = labelled_turns(segments, one)
    assert turns is one.two_way and {s.speaker for s in labelled} == {"SPEAKER_00", "SPEAKER_01"}
    # One voice all through: an agent's message split in two reads as an agent, never as a caller.
    message = words_of("This is Anna from Acme calling from the claims team.", 0.0)
    rest = words_of("Please call us back on this number.", 4.0)
    segments = [Segment(0.0, 3.5, "".join(w.word for w in message), words=message),
                Segment(4.0, 6.5, "".join(w.word for w in rest), words=rest)]
    assert guess(assign_speakers(segments, one.two_way))["confidence"] >= 0.8  # the text alone would say two
    turns, labelled = labelled_turns(segments, one)
    assert turns is one and {s.speaker for s in labelled} == {"SPEAKER_00"}
