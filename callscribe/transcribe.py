"""Calls -> `Transcript`s, in four steps: plan (each call's parts: the channels of a stereo call or
the mono mix, cut at pauses into pieces), decode (every piece through the engine's `transcribe_many`,
a batch at a time), check (a piece that looks wrong, or a window of it that loops, is decoded again
with safer decoding; a part with voice and no words is decoded once more without the VAD trim) and
assemble (pieces back in call time, speaker turns on mono calls). Records and packing of short calls: `callscribe.calls`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from callscribe import diarize, relisten, roles, speaker_words, vad
from callscribe.audio import SAMPLE_RATE, cut_at_pauses, to_mono
from callscribe.engines import Decoded, Engine
from callscribe.records import Segment, Transcript
from callscribe.settings import TranscribeSettings

# The warning of a call whose voice activity found speech where the decoder, asked twice, wrote nothing.
# Voice means a second of it at least: hold music gives the VAD half a second of "speech".
VOICE_SECONDS = 1.0
NO_WORDS_WARNING = "voice was found but no words were decoded, also without the VAD trim"


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



def repeated_phrase(text: str) -> str | None:
    """A word four times back to back ("to, to, to, to, to"), a phrase three times ("what do you think?
    what do you think? what do you think?") or a long one twice: a decoding loop, not what a caller
    said ("darling darling darling" and "thank you thank you" pass). Short calls' loops are too short
    for `repetition_warning`'s words per second and compression limits (docs/PERFORMANCE.md)."""
    words = [w.strip(".,?!;:\"'").lower() for w in text.split()]
    for n in range(1, len(words) // 2 + 1):
        for i in range(len(words) - 2 * n + 1):
            k = 1
            while words[i + k * n:i + (k + 1) * n] == words[i:i + n]:
                k += 1
            if k >= 4 or (k >= 3 and n >= 2) or (k >= 2 and n >= 5):
                return f"{' '.join(words[i:i + n])!r} {k} times in a row"
    return None




def looks_wrong(text: str, seconds: float, *, short: bool = False, runaway: str | None = None) -> str | None:
    """Text no speaker could produce, or a decoder that stopped itself (`runaway`). A `short` call (packed
    with others) is checked for phrase loops too: its loops are too short for `repetition_warning`."""
    return repetition_warning(text, seconds) or (repeated_phrase(text) if short else None) or runaway


# Whisper's own test of a 30 s window's text (faster-whisper's compression_ratio_threshold): the loop
# decodes such a window again at a higher temperature; beam search alone keeps it. One looped window
# hardly moves a 5-minute piece's ratios, so it is looked for window by window (docs/PERFORMANCE.md).
LOOPED_WINDOW_RATIO = 2.4


def redo_looped_windows(engine: Engine, audio: np.ndarray, decoded: Decoded, settings: TranscribeSettings,
                        offset: float = 0.0) -> tuple[Decoded, list[str]]:
    """Each window of a piece whose text compresses like a loop ("do not ask me to carry" twenty times)
    decoded again alone with safer decoding; its new text is kept when it no longer loops or is shorter.
    Only that window's audio is decoded again, not the piece. Segment times are the piece's; `offset`
    (the piece's start in the call) is for the warnings."""
    out: list[Segment] = []
    warnings: list[str] = []
    segs, i = decoded.segments, 0
    while i < len(segs):
        ratio = segs[i].compression_ratio or 0.0
        j = i + 1
        while j < len(segs) and segs[j].compression_ratio == segs[i].compression_ratio:
            j += 1  # a window's segments share its ratio
        looped = segs[i:j]
        a, b = round(looped[0].start * SAMPLE_RATE), round(looped[-1].end * SAMPLE_RATE)
        if ratio <= LOOPED_WINDOW_RATIO or b - a < SAMPLE_RATE:
            out += looped
            i = j
            continue
        retry = engine.transcribe(audio[a:b], settings, safer=True)
        again = [s.shifted(a / SAMPLE_RATE) for s in retry.segments]
        still = max((s.compression_ratio or 0.0 for s in retry.segments), default=0.0) > LOOPED_WINDOW_RATIO
        old_text = " ".join(s.text for s in looped)
        keep = again if not still or len(retry.text) < len(old_text) else looped
        out += keep
        warnings.append(f"repetition loop: a window's text compresses {ratio:.1f}x at {offset + a / SAMPLE_RATE:.0f} s; "
                        "decoded again with safer decoding" + (", still looping" if still else ""))
        i = j
    return dataclasses.replace(decoded, segments=out), warnings


@dataclass
class Part:
    """What one party said: a stereo call's channel (`name`), or a mono call's mix (`name` None), cut into pieces."""

    mono: np.ndarray
    name: str | None
    cuts: list[tuple[int, int]]


def plan(audio: np.ndarray, settings: TranscribeSettings) -> list[Part]:
    """A call's parts: with `settings.diarize`, each channel of a two-party stereo call; else the mono mix.
    Each part is cut at pauses into pieces of at most `max_chunk_minutes` (memory grows with a piece)."""
    if settings.diarize and not diarize.same_channels(audio):
        monos = [(c, settings.channel_names[i] if i < len(settings.channel_names) else f"CHANNEL_{i}") for i, c in enumerate(audio)]
    else:
        monos = [(to_mono(audio), None)]
    return [Part(m, name, cut_at_pauses(m, settings.max_chunk_minutes * 60)) for m, name in monos]


def transcribe_calls(engine: Engine, audios: list[np.ndarray], settings: TranscribeSettings,
                     progress: Callable[[int, float], None] | None = None) -> list[tuple[Transcript, list[str]] | Exception]:
    """16 kHz float32 (channels, samples) calls -> (transcript, warnings) each, or the exception its
    decoding raised. Pieces go to `engine.transcribe_many` together, at most `engine.minutes_at_once` of
    audio at a time; `progress(call index, audio seconds)` follows each finished piece of a call cut in several."""
    plans = [plan(a, settings) for a in audios]
    pieces = [(k, p, c) for k, parts in enumerate(plans) for p, part in enumerate(parts) for c in range(len(part.cuts))]
    decoded: dict[tuple[int, int, int], Decoded] = {}
    failed: dict[int, Exception] = {}
    limit = round(engine.minutes_at_once(settings) * 60 * SAMPLE_RATE)
    for batch in _batches(pieces, plans, limit):
        try:
            done = engine.transcribe_many([_audio(plans, key) for key in batch], settings)
        except Exception as e:  # noqa: BLE001 - one call's failure; of several, each call's pieces again on their own
            done, error = None, e
        if done is None and len({k for k, _, _ in batch}) == 1:
            failed.setdefault(batch[0][0], error)
        elif done is None:
            for k in dict.fromkeys(k for k, _, _ in batch):
                mine = [key for key in batch if key[0] == k]
                try:
                    decoded.update(zip(mine, engine.transcribe_many([_audio(plans, key) for key in mine], settings)))
                except Exception as e:  # noqa: BLE001 - this call's failure, recorded by the caller
                    failed[k] = e
        else:
            decoded.update(zip(batch, done))
        release_memory()
        for k, p, c in batch:
            if progress is not None and len(plans[k][p].cuts) > 1 and k not in failed:
                a, b = plans[k][p].cuts[c]
                progress(k, (b - a) / SAMPLE_RATE)
    out: list[tuple[Transcript, list[str]] | Exception] = []
    for k, (audio, parts) in enumerate(zip(audios, plans)):
        if k in failed:
            out.append(failed[k])
            continue
        try:
            mine = [[decoded[k, p, c] for c in range(len(part.cuts))] for p, part in enumerate(parts)]
            out.append(_assemble(engine, audio, parts, mine, settings))
        except Exception as e:  # noqa: BLE001 - this call's failure, recorded by the caller
            out.append(e)
    return out


def transcribe_audio(engine: Engine, audio: np.ndarray, settings: TranscribeSettings) -> tuple[Transcript, list[str]]:
    """One call (16 kHz float32, channels x samples) -> (transcript, warnings); times relative to the call."""
    result = transcribe_calls(engine, [audio], settings)[0]
    if isinstance(result, Exception):
        raise result
    return result


def _batches(pieces: list[tuple[int, int, int]], plans: list[list[Part]], limit: int) -> list[list[tuple[int, int, int]]]:
    """Pieces in order, grouped while their audio stays within `limit` samples (a piece alone may reach it)."""
    out: list[list[tuple[int, int, int]]] = []
    size = 0
    for key in pieces:
        a, b = plans[key[0]][key[1]].cuts[key[2]]
        if not out or size + b - a > limit:
            out.append([])
            size = 0
        out[-1].append(key)
        size += b - a
    return out


def _audio(plans: list[list[Part]], key: tuple[int, int, int]) -> np.ndarray:
    k, p, c = key
    a, b = plans[k][p].cuts[c]
    return plans[k][p].mono[a:b]


def _assemble(engine: Engine, audio: np.ndarray, parts: list[Part], decoded: list[list[Decoded]],
              settings: TranscribeSettings) -> tuple[Transcript, list[str]]:
    """One call's decoded pieces -> its transcript: checked, in call time, with speakers."""
    segments, warnings, language = [], [], settings.language
    for part, pieces in zip(parts, decoded):
        found, warned, language = _part(engine, part, pieces, settings, language)
        if part.name is not None:
            found = speaker_words.label_channel(found, part.name)
            warned = [f"{part.name}: {w}" for w in warned]
        segments += found
        warnings += warned
    if len(parts) > 1:
        segments.sort(key=lambda s: s.start)  # stable: speech starting together reads in channel order
    text = " ".join(s.text for s in segments if s.text).strip()
    transcript = Transcript(text, language, round(audio.shape[1] / SAMPLE_RATE, 3), segments)
    if parts[0].name is not None:
        transcript.speakers = speaker_words.talk_time(segments)
        return transcript, warnings
    return with_speakers(transcript, parts[0].mono, settings), warnings


def _part(engine: Engine, part: Part, pieces: list[Decoded], settings: TranscribeSettings, language: str | None,
          ) -> tuple[list[Segment], list[str], str | None]:
    segments: list[Segment] = []
    warnings: list[str] = []
    for (start, end), decoded in zip(part.cuts, pieces):
        offset, seconds = start / SAMPLE_RATE, (end - start) / SAMPLE_RATE
        language = decoded.language or language
        warning = looks_wrong(decoded.text, seconds, runaway=decoded.runaway)
        if not warning:
            decoded, redone = redo_looped_windows(engine, part.mono[start:end], decoded, settings, offset)
            warnings += redone
        if warning:
            retry = engine.transcribe_many([part.mono[start:end]], settings, safer=True)[0]
            language = retry.language or language
            again = looks_wrong(retry.text, seconds, runaway=retry.runaway)
            warnings.append(f"{warning} at {offset:.0f} s; retried with safer decoding" + (f", still {again}" if again else ""))
            if not again or len(retry.text) < len(decoded.text):
                decoded = retry
        segments += [s.shifted(offset) for s in decoded.segments]
    if settings.vad and not any(s.text for s in segments) and _voiced(part.mono) >= VOICE_SECONDS:
        # Voice, and no words: heard once more as a whole, without the VAD trim (Whisper's own no-speech test decides).
        retry = engine.transcribe(part.mono, dataclasses.replace(settings, vad=False))
        segments = [s for s in retry.segments if s.text] if not looks_wrong(retry.text, len(part.mono) / SAMPLE_RATE, short=True,
                                                                            runaway=retry.runaway) else []
        if not segments:
            warnings.append(NO_WORDS_WARNING)
    segments = relisten.refine(engine, part.mono, segments, settings)
    return segments, warnings, language


def _voiced(mono: np.ndarray) -> float:
    """Seconds of speech the VAD finds (the packing options: a margin around words, pauses kept)."""
    return sum(b - a for a, b in vad.speech_regions(mono, vad.PACKING)) / SAMPLE_RATE


def with_speakers(transcript: Transcript, mono: np.ndarray, settings: TranscribeSettings) -> Transcript:
    """Speaker turns on a mono call's segments and words, when diarization is on."""
    if settings.diarize and transcript.segments:
        turns = diarize.diarizer_for(settings.speaker_model).turns(mono, settings.speakers)
        turns, labelled = speaker_words.labelled_turns(transcript.segments, turns)
        transcript.segments, transcript.roles = roles.name_parties(labelled, settings.channel_names)
        transcript.turns = speaker_words.named_turns(turns, labelled, transcript.segments)
        transcript.speakers = speaker_words.talk_time(transcript.segments)
    return transcript


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
