"""Trackers: the owner's phrases found in each call, fuzzily (rapidfuzz over normalised words), with their times.

A segment's words are normalised (lower case, letters, digits and apostrophes, Porter stems: "cancelling my
policies" reads "cancel my polici"). rapidfuzz's
partial_ratio_alignment finds where a phrase fits the segment best; the match is widened to whole words and
scored again with ratio over those words, so "cancelling my policy" finds "cancel my policy" but "behold"
does not find "hold". A hit needs `match_score`, the right party and, with `within_seconds`, an early start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from rapidfuzz import fuzz

from callscribe.analytics.params import Tracker

WORD = re.compile(r"[a-z0-9']+")
STEM = lru_cache(maxsize=500_000)(snowballstemmer.stemmer("porter").stemWord)  # pure Python: a call's words repeat


@dataclass
class Hit:
    tracker: str
    phrase: str
    start: float  # seconds into the call
    end: float
    party: str | None
    score: float  # 0-100
    seg: int  # the segment's position in the transcript
    text: str  # the words matched, as normalised


def normal(text: str) -> str:
    return " ".join(map(STEM, WORD.findall(text.lower())))


def _words(seg: dict) -> list[tuple[str, float, float]]:
    """(normalised word, start, end); without word times, the segment's span spread evenly over its words."""
    if seg.get("words"):
        out = [(normal(w["word"]), float(w["start"]), float(w["end"])) for w in seg["words"]]
        return [w for w in out if w[0]]
    tokens = [STEM(w) for w in WORD.findall((seg.get("text") or "").lower())]
    step = (float(seg["end"]) - float(seg["start"])) / max(len(tokens), 1)
    return [(t, seg["start"] + i * step, seg["start"] + (i + 1) * step) for i, t in enumerate(tokens)]


def find(transcript: dict, trackers: dict[str, Tracker], parties: dict[str, str], min_score: float) -> list[Hit]:
    """Every tracker hit in a call, at most one per tracker phrase and segment (its best placement)."""
    hits = []
    phrases = [(name, t, phrase, normal(phrase)) for name, t in trackers.items() for phrase in t.phrases]
    for i, seg in enumerate(transcript.get("segments") or []):
        party = parties.get(seg.get("speaker"), seg.get("speaker"))
        words = None
        for name, t, phrase, target in phrases:
            if t.party != "any" and party != t.party:
                continue
            if t.within_seconds and float(seg["start"]) >= t.within_seconds:
                continue
            if words is None:
                words = _words(seg)
                text = " ".join(w for w, _, _ in words)
                starts = [0]
                for w, _, _ in words[:-1]:
                    starts.append(starts[-1] + len(w) + 1)
            if not target or not words:
                continue
            found = fuzz.partial_ratio_alignment(target, text, score_cutoff=min_score)
            if found is None:
                continue
            first = max(k for k, s in enumerate(starts) if s <= found.dest_start)
            last = max(k for k, s in enumerate(starts) if s < max(found.dest_end, found.dest_start + 1))
            matched = " ".join(w for w, _, _ in words[first:last + 1])
            score = fuzz.ratio(target, matched)
            if score < min_score or (t.within_seconds and words[first][1] >= t.within_seconds):
                continue
            hits.append(Hit(name, phrase, round(words[first][1], 2), round(words[last][2], 2), party, round(score, 1), i, matched))
    return hits
