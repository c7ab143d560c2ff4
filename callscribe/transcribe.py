"""One call -> one `Transcript`: long calls cut at pauses into pieces, each piece checked for
repetition loops and retried with safer decoding, stereo calls transcribed channel by channel,
speaker turns put on mono calls. Many calls at once: `callscribe.calls` and `callscribe.runner`.
"""

from __future__ import annotations

import ctypes
import functools
import zlib

import numpy as np

from callscribe import diarize, relisten, roles, speaker_words
from callscribe.audio import SAMPLE_RATE, to_mono
from callscribe.engines import Decoded, Engine
from callscribe.records import Segment, Transcript
from callscribe.settings import TranscribeSettings


def pieces(audio: np.ndarray, max_seconds: float, sr: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """Cut mono audio into pieces of at most `max_seconds`, each cut at the quietest half
    second in the last quarter of its window: a pause, not the middle of a word."""
    n, limit = len(audio), int(max_seconds * sr)
    if n <= limit:
        return [(0, n)]
    hop = sr // 10
    energy = np.sqrt(np.convolve(np.square(audio, dtype=np.float64)[: n - n % hop].reshape(-1, hop).mean(1), np.ones(5) / 5, "same"))
    out, start = [], 0
    while n - start > limit:
        lo, hi = (start + limit * 3 // 4) // hop, (start + limit) // hop
        cut = (lo + int(np.argmin(energy[lo:hi]))) * hop
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def repetition_warning(text: str, seconds: float) -> str | None:
    """Flag output no speaker could produce: a loop of one phrase, or far too many words."""
    words = text.split()
    if len(words) > 8 and len(words) / max(seconds, 1.0) > 6:
        return f"implausible: {len(words)} words in {seconds:.0f} s of audio"
    if len(text) > 120:
        ratio = len(text.encode()) / len(zlib.compress(text.encode()))
        if ratio > 3.0:
            return f"repetition loop: text compresses {ratio:.1f}x"
    return None


def transcribe_audio(engine: Engine, audio: np.ndarray, settings: TranscribeSettings) -> tuple[Transcript, list[str]]:
    """Transcribe 16 kHz float32 (channels, samples) audio; times are relative to the whole call.

    With `settings.diarize`, a stereo call is transcribed channel by channel (one party each) and
    its segments named by `channel_names`; a mono call (or stereo with identical channels) gets
    speaker turns from `callscribe.diarize`."""
    if not settings.diarize:
        return _transcribe_mono(engine, to_mono(audio), settings)
    if not diarize.same_channels(audio):
        segments, warnings, language = [], [], settings.language
        for i, channel in enumerate(audio):
            name = settings.channel_names[i] if i < len(settings.channel_names) else f"CHANNEL_{i}"
            part, warned = _transcribe_mono(engine, channel, settings)
            segments += speaker_words.label_channel(part.segments, name)
            warnings += [f"{name}: {w}" for w in warned]
            language = language or part.language
        segments.sort(key=lambda s: s.start)  # stable: speech starting together reads in channel order
        text = " ".join(s.text for s in segments if s.text).strip()
        duration = round(audio.shape[1] / SAMPLE_RATE, 3)
        return Transcript(text, language, duration, segments, speaker_words.talk_time(segments)), warnings
    mono = to_mono(audio)
    transcript, warnings = _transcribe_mono(engine, mono, settings)
    return with_speakers(transcript, mono, settings), warnings


def mono_parts(audio: np.ndarray, settings: TranscribeSettings) -> list[np.ndarray]:
    """What transcribe_audio hands the engine for a call that fits one piece: each channel of a
    two-party stereo call, else the mono mix (an engine may decode them ahead, all together)."""
    return list(audio) if settings.diarize and not diarize.same_channels(audio) else [to_mono(audio)]


def with_speakers(transcript: Transcript, mono: np.ndarray, settings: TranscribeSettings) -> Transcript:
    """Speaker turns on a mono call's segments and words, when diarization is on."""
    if settings.diarize and transcript.segments:
        turns = diarize.diarizer().turns(mono, settings.speakers)
        labelled = speaker_words.assign_speakers(transcript.segments, turns)
        transcript.segments, transcript.roles = roles.name_parties(labelled, settings.channel_names)
        transcript.turns = speaker_words.named_turns(turns, labelled, transcript.segments)
        transcript.speakers = speaker_words.talk_time(transcript.segments)
    return transcript


def _transcribe_mono(engine: Engine, mono: np.ndarray, settings: TranscribeSettings) -> tuple[Transcript, list[str]]:
    duration = len(mono) / SAMPLE_RATE
    segments: list[Segment] = []
    warnings: list[str] = []
    language = settings.language
    cuts = pieces(mono, settings.max_chunk_minutes * 60)
    for start, end in cuts:
        offset, seconds = start / SAMPLE_RATE, (end - start) / SAMPLE_RATE
        decoded = engine.transcribe(mono[start:end], settings)
        language = decoded.language
        warning = _looks_wrong(decoded, seconds)
        if warning:
            retry = engine.transcribe(mono[start:end], settings, safer=True)
            language = retry.language
            again = _looks_wrong(retry, seconds)
            warnings.append(f"{warning} at {offset:.0f} s; retried with safer decoding" + (f", still {again}" if again else ""))
            if not again or len(retry.text) < len(decoded.text):
                decoded = retry
        segments += [s.shifted(offset) for s in decoded.segments]
        if len(cuts) > 1:
            release_memory()
            _piece_done(seconds)
    segments = relisten.refine(engine, mono, segments, settings)
    text = " ".join(s.text for s in segments if s.text).strip()
    return Transcript(text=text, language=language, duration=round(duration, 3), segments=segments), warnings


_progress = None  # takes (call id, audio seconds) after each piece of a long call: the progress bar moves within it
_call_id: str | None = None  # the call being transcribed in this process


def report_pieces(progress) -> None:
    """Have each finished piece of a long call reported to `progress` (a callable, or None for nothing)."""
    global _progress
    _progress = progress


def current_call(call_id: str | None) -> None:
    global _call_id
    _call_id = call_id


def _piece_done(seconds: float) -> None:
    if _progress is not None and _call_id is not None:
        _progress((_call_id, seconds))


def _looks_wrong(decoded: Decoded, seconds: float) -> str | None:
    return repetition_warning(decoded.text, seconds) or decoded.runaway


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS): its allocator returns memory by itself
        return None


def release_memory() -> None:
    """Hand freed heap back to the system between the pieces of a long call. glibc keeps it, so
    each piece would add to the peak (measured: +110 MB a 5-minute piece) instead of reusing it."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
