"""Speakers on a transcript's words: each word from the speaker-activity windows under it.

A word's evidence is the cosine of the embedded windows (CAM++ or d-vector, `callscribe.diarize`)
that overlap it to each speaker's voice, weighted by how much of the word each covers (the turns' own labels, added as a second vote, made
WDER no better on the tuning halves). A Viterbi pass over the words in order picks one speaker per word, charging a change of
speaker much more inside a sentence (no sentence end before it, no pause of `PAUSE` s) than at a
sentence end or a pause. A change whose evidence is weak on either side moves to the nearest such
boundary; a short sentence ("Of course.") between two of the other party's keeps its own speaker
when its windows say so. Segments are then split between words where the speaker changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from callscribe import roles, voices
from callscribe.diarize import Turns
from callscribe.records import Segment, Word
from callscribe.speaker_metrics import SENTENCE_END

PAUSE = 0.3  # s between two words: a pause, where a turn may change as cheaply as at a sentence end
# Word-level Viterbi, tuned on the tuning halves (bench/speaker_splits.json, bench/diarization.py --tune):
# per second of word, score = SCALE * cosine to the speaker's voice; a change of speaker costs MID_SWITCH
# inside a sentence, BOUNDARY_SWITCH at a sentence end or pause (3-40 and 0-1 tried: 12 and 0 best).
SCALE, MID_SWITCH, BOUNDARY_SWITCH = 20.0, 12.0, 0.0
CONFIDENCE_SCALE = 20.0  # a word's probability of its speaker: softmax(cosines * scale)


def evidence(turns: Turns, words: list[Word]) -> np.ndarray:
    """(words, speakers): the windows' mean cosine to each voice under each word."""
    cos = np.zeros((len(words), max(1, turns.scores.shape[1])))
    if not len(turns.centres):
        return cos
    order = np.argsort(turns.centres, kind="stable")
    centres, scores, half = turns.centres[order], turns.scores[order], turns.half_window
    for i, w in enumerate(words):
        a, b = np.searchsorted(centres, [w.start - half, w.end + half])
        if b > a:
            overlap = np.minimum(w.end, centres[a:b] + half) - np.maximum(w.start, centres[a:b] - half)
            weight = np.maximum(overlap, 1e-3)
            cos[i] = weight @ scores[a:b] / weight.sum()
        else:  # no window under the word: the nearest one
            cos[i] = scores[min(len(centres) - 1, int(np.argmin(np.abs(centres - (w.start + w.end) / 2))))]
    return cos


def boundary_before(words: list[Word]) -> np.ndarray:
    """True before word i when word i-1 ends a sentence or a pause of PAUSE s or more separates them."""
    out = np.ones(len(words), bool)
    for i in range(1, len(words)):
        out[i] = bool(SENTENCE_END.search(words[i - 1].word)) or words[i].start - words[i - 1].end >= PAUSE
    return out


def label_words(words: list[Word], turns: Turns) -> tuple[list[int], list[float]]:
    """Speaker index and confidence of each word (words in time order)."""
    if not words:
        return [], []
    cos = evidence(turns, words)
    if cos.shape[1] < 2:
        return [0] * len(words), [1.0] * len(words)
    seconds = np.array([max(w.end - w.start, 0.05) for w in words])[:, None]
    score = seconds * SCALE * cos
    path = voices.viterbi(score, np.where(boundary_before(words), BOUNDARY_SWITCH, MID_SWITCH))
    p = np.exp(CONFIDENCE_SCALE * (cos - cos.max(1, keepdims=True)))
    p /= p.sum(1, keepdims=True)
    return path.tolist(), p[np.arange(len(words)), path].tolist()


def speaker_at(turns: list, start: float, end: float) -> str | None:
    """The speaker holding most of [start, end]; the nearest turn if none overlaps it."""
    if not turns:
        return None
    held: dict[str, float] = {}
    for t in turns:
        overlap = min(end, t.end) - max(start, t.start)
        if overlap > 0:
            held[t.speaker] = held.get(t.speaker, 0.0) + overlap
    if held:
        return max(held, key=held.get)
    mid = (start + end) / 2
    return min(turns, key=lambda t: min(abs(mid - t.start), abs(mid - t.end))).speaker


def assign_speakers(segments: list[Segment], turns: Turns) -> list[Segment]:
    """Label every word of a mono call (`label_words`) and split each segment where its words change
    speaker; a segment carries the mean confidence of its words."""
    if not isinstance(turns, Turns):
        turns = Turns(turns)
    words = [w for s in segments for w in (s.words or [])]
    labels, confidence = label_words(words, turns) if len(turns.centres) else ([], [])
    if words and not labels:  # turns without windows (given by hand): the speaker holding most of each word
        named = [speaker_at(turns, w.start, w.end) for w in words]
        confidence = [None] * len(words)
    else:
        named = [f"SPEAKER_{k:02d}" for k in labels]
    by_word = {id(w): (who, c) for w, who, c in zip(words, named, confidence)}
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            out.append(replace(seg, speaker=speaker_at(turns, seg.start, seg.end)))
            continue
        runs: list[list[tuple[Word, float | None]]] = []  # consecutive words of one speaker
        for w in seg.words:
            who, c = by_word[id(w)]
            w = replace(w, speaker=who)
            if runs and runs[-1][-1][0].speaker == who:
                runs[-1].append((w, c))
            else:
                runs.append([(w, c)])
        for i, run in enumerate(runs):  # split between words, never inside one
            ws = [w for w, _ in run]
            known = [c for _, c in run if c is not None]
            start, end = seg.start if i == 0 else ws[0].start, seg.end if i == len(runs) - 1 else ws[-1].end
            out.append(replace(
                seg, start=start, end=end, text=seg.text if len(runs) == 1 else "".join(w.word for w in ws).strip(), words=ws,
                speaker=ws[0].speaker, speaker_confidence=round(float(np.mean(known)), 3) if known else None,
            ))
    return out


def labelled_turns(segments: list[Segment], turns: Turns) -> tuple[Turns, list[Segment]]:
    """The turns and the segments labelled by them (`assign_speakers`). When `speakers: auto` found one
    voice but kept its two-way split (`Turns.two_way`, CAM++), the split instead if its words read as
    an agent and a caller (`roles.both_parties`): CAM++'s one-or-two decision is one cosine, and two
    real parties on one line came to it (docs/PERFORMANCE.md)."""
    labelled = assign_speakers(segments, turns)
    two_way = getattr(turns, "two_way", None)
    if two_way is not None:
        split = assign_speakers(segments, two_way)
        if roles.both_parties(split):
            return two_way, split
    return turns, labelled


def named_turns(turns: list, labelled: list[Segment], named: list[Segment]) -> list[list]:
    """The diarizer's turns as [start, end, speaker], speakers renamed as `named` renamed `labelled`'s
    (agent, caller). The RTTM is written from these: their edges follow the voices, not the recogniser's
    segments, which take in pauses (DER 6.6 % against 12.0 % on the SpokenWOZ tuning half)."""
    rename = {a.speaker: b.speaker for a, b in zip(labelled, named)}
    return [[t.start, t.end, rename.get(t.speaker, t.speaker)] for t in turns]


def label_channel(segments: list[Segment], name: str) -> list[Segment]:
    return [replace(s, speaker=name, words=[replace(w, speaker=name) for w in s.words] if s.words is not None else None) for s in segments]


def talk_time(segments: list[Segment]) -> dict[str, float]:
    """Seconds per speaker: words' spans where there are words, else the segments'."""
    time: dict[str, float] = {}
    for seg in segments:
        for who, a, b in ([(w.speaker, w.start, w.end) for w in seg.words] if seg.words else [(seg.speaker, seg.start, seg.end)]):
            if who:
                time[who] = round(time.get(who, 0.0) + max(0.0, b - a), 3)
    return dict(sorted(time.items()))
