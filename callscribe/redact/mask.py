"""Masking in place: what `find` found becomes [CARD] (or a mask character) in segment text and words,
every word keeping its times."""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field

from callscribe.records import Transcript, Word
from callscribe.redact.recognizers import find
from callscribe.redact.settings import ENTITY, RedactSettings

SPACES = re.compile(r"\s{2,}")

@dataclass
class Redaction:
    transcript: Transcript
    counts: Counter = field(default_factory=Counter)
    spans: list[tuple[float, float]] = field(default_factory=list)  # seconds, for the audio


def _mask(word: str, kind: str, settings: RedactSettings) -> str:
    lead = word[: len(word) - len(word.lstrip())]
    if settings.mask == "label":
        return f"{lead}[{ENTITY[kind]}]"
    return lead + settings.mask * max(len(word.strip()), 1)


def _join(tokens: list[tuple[str, str | None]], label: bool) -> str:
    """Segment text from its (possibly masked) words; with labels, one [CARD] stands for the whole span."""
    out, prev = [], None
    for text, span in tokens:
        if label and span is not None and span == prev:
            continue
        out.append(text)
        prev = span
    return "".join(out)


def redact(t: Transcript, settings: RedactSettings) -> Redaction:
    """A copy of `t` with what `settings` asks for masked: segment text, words (times kept), full text."""
    t = copy.deepcopy(t)
    # Every word of the call in spoken order; segments without word times are split on spaces.
    refs: list[tuple[int, int]] = []
    words: list[str] = []
    seg_tokens: list[list[str]] = []
    for si, seg in enumerate(t.segments):
        toks = [w.word for w in seg.words] if seg.words else [" " + x for x in seg.text.split()]
        seg_tokens.append(toks)
        for wi, w in enumerate(toks):
            refs.append((si, wi))
            words.append(w)
    found = find(words, settings)
    if not found:
        return Redaction(t)
    span_of: dict[tuple[int, int], tuple[int, str]] = {}
    counts: Counter = Counter()
    spans: list[tuple[float, float]] = []
    for n, f in enumerate(found):
        counts[f.kind] += 1
        for gi in f.words:
            span_of[refs[gi]] = (n, f.kind)
        times = [(t.segments[si].words[wi].start, t.segments[si].words[wi].end) for si, wi in (refs[gi] for gi in f.words)
                 if t.segments[si].words]
        if times:
            spans.append((min(a for a, _ in times), max(b for _, b in times)))
    label = settings.mask == "label"
    for si, seg in enumerate(t.segments):
        if not any((si, wi) in span_of for wi in range(len(seg_tokens[si]))):
            continue
        tokens = []
        for wi, text in enumerate(seg_tokens[si]):
            hit = span_of.get((si, wi))
            masked = _mask(text, hit[1], settings) if hit else text
            tokens.append((masked, hit[0] if hit else None))
            if seg.words and hit:
                w = seg.words[wi]
                seg.words[wi] = Word(w.start, w.end, masked, w.probability, w.speaker)
        seg.text = SPACES.sub(" ", _join(tokens, label))  # a word's own trailing space beside a mask: one space
        if not seg.words:
            seg.text = seg.text.strip()
    t.text = " ".join(s.text.strip() for s in t.segments if s.text.strip())
    return Redaction(t, counts, spans)
