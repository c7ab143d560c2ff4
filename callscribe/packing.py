"""Several short calls decoded as one tape: one 30 s window serves several calls instead of each
being padded to 30 s. Each call is cut to its speech and laid on the tape with a pause after it;
the decoded words go back to their call by time (`Span` says where each call lies on the tape)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from callscribe import relisten, vad
from callscribe.audio import SAMPLE_RATE
from callscribe.engines import Engine
from callscribe.records import Segment, Transcript, Word
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import looks_wrong, transcribe_audio, with_speakers

PACK_GAP = 2.0  # seconds of silence between packed calls: Whisper hears a pause, not a run-on
# Whisper can skip a whole call on a tape (seen where a call straddles two 30 s windows): it is then decoded alone.
DROPPED = "no words came back for this call from its packed window; transcribed on its own"
# A call can come back from its window as a decoding loop ("to, to, to, ..."): also decoded alone.
LOOPED = "its text from the packed window was a decoding loop; transcribed on its own"


class Span(NamedTuple):
    """Where one call's speech lies on the tape, in samples."""

    item: int  # the call's index in the list packed
    start: int  # on the tape
    end: int
    source: int  # where the speech starts in the call itself

    def to_call(self, seconds: float) -> float:
        """A tape time as the call's own time, held to this call's speech."""
        lo, hi = self.source / SAMPLE_RATE, (self.source + self.end - self.start) / SAMPLE_RATE
        return min(max(seconds + (self.source - self.start) / SAMPLE_RATE, lo), hi)


def lay_out(monos: list[np.ndarray], settings: TranscribeSettings, failed: dict[int, Exception] | None = None,
            ) -> tuple[np.ndarray | None, list[Span]]:
    """The tape and each call's span on it; a call without speech gets no span (and no text). With
    `failed`, a call whose VAD raises is left off the tape and its exception put there."""
    # After every call, the last too: a tape that stops mid-word loses that call's words.
    gap = np.zeros(int(PACK_GAP * SAMPLE_RATE), np.float32)
    parts, spans, cursor = [], [], 0
    for i, mono in enumerate(monos):
        if failed and i in failed:  # failed in an earlier layout: off this tape
            continue
        try:
            regions = vad.speech_regions(mono, vad.PACKING) if settings.vad else [(0, len(mono))]
        except Exception as e:
            if failed is None:
                raise
            failed[i] = e
            continue
        if not regions:
            continue
        start, end = regions[0][0], regions[-1][1]
        spans.append(Span(i, cursor, cursor + end - start, start))
        parts += [mono[start:end], gap]
        cursor += end - start + len(gap)
    return (np.concatenate(parts) if parts else None), spans


def assign(segments: list[Segment], spans: list[Span], n: int) -> list[list[Segment]]:
    """The tape's segments (with words) -> each call's segments, in the call's own time.

    Whisper's segment times (timestamp tokens) are surer than its word times: a segment lying
    mostly in one call goes to it whole; only a straddling one is split by word."""
    segs_of: list[list[Segment]] = [[] for _ in range(n)]
    tape_seg_of: list = [None] * n  # the tape segment each call's last segment came from
    for seg in segments:
        owner = span_holding(spans, seg.start, seg.end)
        for w in seg.words or []:
            sp = owner or span_of_word(spans, w.start, w.end)
            word = Word(round(sp.to_call(w.start), 3), round(sp.to_call(w.end), 3), w.word, w.probability)
            if tape_seg_of[sp.item] is not seg:  # a new segment where the tape segment or the call changes
                segs_of[sp.item].append(Segment(word.start, word.end, "", [], avg_logprob=seg.avg_logprob,
                                                no_speech_prob=seg.no_speech_prob, compression_ratio=seg.compression_ratio))
                tape_seg_of[sp.item] = seg
            out = segs_of[sp.item][-1]
            out.words.append(word)
            out.end = word.end
            out.text = (out.text + word.word) if out.text else word.word.strip()
    return segs_of


def span_holding(spans: list[Span], start: float, end: float, share: float = 0.8) -> Span | None:
    """The packed call holding at least `share` of [start, end] (seconds on the tape), if any."""
    a, b = start * SAMPLE_RATE, end * SAMPLE_RATE
    for sp in spans:
        if b > a and (min(b, sp.end) - max(a, sp.start)) >= share * (b - a):
            return sp
    return None


def span_of_word(spans: list[Span], start: float, end: float) -> Span:
    """The packed call a word belongs to, judged by where it ends: DTW stretches a call's first
    word back across the silence before it, but its end stays where the speech is. A word
    ending in a gap is the previous call's tail."""
    x = end * SAMPLE_RATE - SAMPLE_RATE // 50
    before = [sp for sp in spans if sp.start <= x]
    return before[-1] if before else spans[0]


def transcribe_packed(engine: Engine, monos: list[np.ndarray], settings: TranscribeSettings,
                      ) -> list[tuple[Transcript, list[str]] | Exception]:
    """Short mono calls -> (transcript, warnings) each; a call whose text looks wrong is redone on its own.
    A call whose own steps raise (VAD, speaker turns) gets its exception in its place, and the others are
    decoded again on a tape without it, so they come out as if it had never been there."""
    failed: dict[int, Exception] = {}
    while True:
        results = _packed_once(engine, monos, settings, failed)
        new = {i: r for i, r in enumerate(results) if isinstance(r, Exception) and i not in failed}
        if not new:
            return results
        failed.update(new)


def _packed_once(engine: Engine, monos: list[np.ndarray], settings: TranscribeSettings, failed: dict[int, Exception],
                 ) -> list[tuple[Transcript, list[str]] | Exception]:
    """One tape of the calls not in `failed` (a call whose VAD raises is put there), decoded and handed back."""
    tape, spans = lay_out(monos, settings, failed)
    segs_of: list[list[Segment]] = [[] for _ in monos]
    language = settings.language
    if spans:
        decoded = engine.transcribe(tape, settings, packed=True)
        segs_of, language = assign(decoded.segments, spans, len(monos)), decoded.language
    laid = {sp.item for sp in spans}
    results: list[tuple[Transcript, list[str]] | Exception] = []
    for i, mono in enumerate(monos):
        if i in failed:
            results.append(failed[i])
            continue
        duration = len(mono) / SAMPLE_RATE
        text = " ".join(s.text for s in segs_of[i]).strip()
        try:
            looped = looks_wrong(text, duration, short=True)
            # A loop, or speech laid on the tape with no word back (Whisper skipped it): decoded alone.
            redo = f"{LOOPED} ({looped})" if looped else DROPPED if not text and i in laid else None
            if redo:
                transcript, warnings = transcribe_audio(engine, mono[None, :], settings)
                results.append((transcript, [*warnings, redo]))
                continue
            segments = relisten.refine(engine, mono, segs_of[i], settings)
            text = " ".join(s.text for s in segments).strip()
            transcript = with_speakers(Transcript(text, language, round(duration, 3), segments), mono, settings)
        except Exception as e:  # noqa: BLE001 - this call's failure, recorded by the caller
            results.append(e)
            continue
        if not settings.timestamps:  # words were needed to place the calls and speakers, not to keep
            for seg in transcript.segments:
                seg.words = None
        results.append((transcript, []))
    return results
