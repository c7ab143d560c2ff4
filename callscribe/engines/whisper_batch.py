"""Whisper's 30 s windows decoded in batches: the windows of several pieces (of one call or of
several) through CTranslate2's encoder and `generate` at once, by faster-whisper's
`BatchedInferencePipeline` given our own windows.

Each piece is cut to its speech as the sequential decoder's `vad_filter` does (same VAD options),
and the speech is cut at its quietest point into windows of at most 30 s, so no window starts or
ends mid-word. Windows are decoded without timestamp tokens: with them Whisper leaves a window's
last sentence for the next window (the sequential decoder seeks back to it; a batch cannot), and
the batch lost 4x the words. A window's words, timed by alignment, are then split into segments at
sentence ends. Used when `transcribe.batch_size` > 1; not the default: decoded without the window
before, whole turns of a two-party call's quieter or accented party vanish (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

import numpy as np

from callscribe import vad
from callscribe.audio import SAMPLE_RATE, cut_at_pauses
from callscribe.engines import Decoded
from callscribe.records import Segment, Word

if TYPE_CHECKING:
    from callscribe.settings import TranscribeSettings

WINDOW_SECONDS = 30.0  # Whisper's window
NO_SPEECH_THRESHOLD = 0.6  # the sequential decoder's: a window it thinks silent and is unsure of is dropped


def decode(pipeline, pieces: list[np.ndarray], settings: TranscribeSettings, options: dict) -> list[Decoded]:
    """16 kHz mono pieces -> a `Decoded` each (times relative to its piece), their windows decoded
    `settings.batch_size` at a time. `options`: the sequential decoder's (beam, thresholds)."""
    spoken = [vad.speech_only(p, vad.DECODER) if settings.vad else (p, None) for p in pieces]
    starts, clips, cursor = [], [], 0  # each piece's start on the tape; every window, in tape seconds
    for speech, _ in spoken:
        starts.append(cursor)
        if len(speech) >= SAMPLE_RATE // 10:
            clips += [{"start": (cursor + a) / SAMPLE_RATE, "end": (cursor + b) / SAMPLE_RATE}
                      for a, b in cut_at_pauses(speech, WINDOW_SECONDS)]
        cursor += len(speech)
    segments_of: list[list[Segment]] = [[] for _ in pieces]
    if clips:
        tape = np.concatenate([s for s, _ in spoken])
        found, _ = pipeline.transcribe(
            tape, clip_timestamps=clips, batch_size=settings.batch_size, without_timestamps=True,
            word_timestamps=settings.timestamps, language=settings.language, beam_size=options["beam_size"],
            temperature=0.0, vad_filter=False)
        for s in found:
            if s.no_speech_prob > NO_SPEECH_THRESHOLD and s.avg_logprob < options["log_prob_threshold"]:
                continue  # what the sequential decoder drops as silence
            k = bisect_right(starts, round(s.start * SAMPLE_RATE)) - 1
            segments_of[k] += _sentences(_segment(s, starts[k] / SAMPLE_RATE, len(spoken[k][0]) / SAMPLE_RATE, settings.timestamps))
    out = []
    for (_, restore), segments in zip(spoken, segments_of):
        if restore is not None:
            segments = [vad.restored(s, restore) for s in segments]
        out.append(Decoded(segments, settings.language))
    return out


def _segment(s, offset: float, length: float, timestamps: bool) -> Segment:
    """A library segment on the tape -> ours, in its piece's time (held to the piece)."""

    def at(t: float) -> float:
        return round(min(max(float(t) - offset, 0.0), length), 3)

    words = [Word(at(w.start), at(w.end), w.word, round(float(w.probability), 4)) for w in (s.words or [])] if timestamps else None
    return Segment(at(s.start), at(s.end), s.text.strip(), words, avg_logprob=round(float(s.avg_logprob), 4),
                   no_speech_prob=round(float(s.no_speech_prob), 4), compression_ratio=round(float(s.compression_ratio), 3))


def _sentences(seg: Segment) -> list[Segment]:
    """A window's segment cut at its sentence ends (by its words), as Whisper's timestamps cut it sequentially."""
    if not seg.words:
        return [seg]
    out, current = [], []
    for w in seg.words:
        current.append(w)
        if w.word.rstrip().endswith((".", "?", "!")) or w is seg.words[-1]:
            out.append(Segment(current[0].start, current[-1].end, "".join(x.word for x in current).strip(), current,
                               avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob, compression_ratio=seg.compression_ratio))
            current = []
    return out
