"""The second listen for the company's own words (callscribe.vocabulary): segments whose text nearly
says a term are decoded again with that term as a hint, and kept only when the audio confirms it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from callscribe import vocabulary
from callscribe.audio import SAMPLE_RATE

if TYPE_CHECKING:
    from callscribe.engines import Engine
    from callscribe.records import Segment
    from callscribe.settings import TranscribeSettings

PAD = 0.2  # seconds kept either side of a segment decoded again: its first and last words whole
WINDOW = 30.0  # seconds Whisper hears at once


def refine(engine: Engine, mono: np.ndarray, segments: list[Segment], settings: TranscribeSettings) -> list[Segment]:
    """A call's segments (call time), those nearly saying a term decoded again with the terms they
    nearly say as a hint, and replaced when the second listen confirms a term. Others stay as they were."""
    found = vocabulary.terms(settings.vocabulary)
    if not found:
        return segments
    out: list[Segment] = []
    for run, worth_it in _runs(segments, found):
        if not worth_it:
            out += run
            continue
        first = " ".join(s.text for s in run)
        near = vocabulary.near_terms(first, found)
        a = max(0, round((run[0].start - PAD) * SAMPLE_RATE))
        b = min(len(mono), round((run[-1].end + PAD) * SAMPLE_RATE))
        again = engine.transcribe(mono[a:b], settings, hint=vocabulary.hint(near)) if b > a else None
        if again is not None and not again.runaway and vocabulary.confirms(first, again.text, near, found):
            out += [s.shifted(a / SAMPLE_RATE) for s in again.segments]
        else:
            out += run
    return out


def _runs(segments: list[Segment], found: list[str]) -> list[tuple[list[Segment], bool]]:
    """The segments in runs: neighbouring ones nearly saying a term go together, up to a window's
    length (a second listen costs a 30 s window however short its audio), the others one each."""
    runs: list[tuple[list[Segment], bool]] = []
    for seg in segments:
        near = bool(vocabulary.near_terms(seg.text, found))
        if near and runs and runs[-1][1] and seg.end - runs[-1][0][0].start <= WINDOW - 2 * PAD:
            runs[-1][0].append(seg)
        else:
            runs.append(([seg], near))
    return runs
