"""Voice activity: where the speech is, with the Silero VAD model that faster-whisper carries.

Four uses, each with its own option set of faster-whisper's `VadOptions` fields.
"""

from __future__ import annotations

import numpy as np

from callscribe.audio import SAMPLE_RATE
from callscribe.records import Segment, Word

# Packing short calls: a call is cut to its speech, keeping pauses and a margin around words.
PACKING = dict(min_silence_duration_ms=500, speech_pad_ms=400)
# Diarization: every short turn counts (a "yes" between two long ones), so a lower threshold and tight pads.
DIARIZATION = dict(threshold=0.35, min_silence_duration_ms=300, speech_pad_ms=50, min_speech_duration_ms=200)
# Decoding a call (faster-whisper's `vad_filter`, which joins the speech it keeps). The library's own
# defaults (threshold 0.5, 400 ms pads) cut 3 % of the real SpokenWOZ calls' turns, mostly the quieter
# party's word edges, and Whisper lost those words: WER 27.1 % against the loop's 21.8 %. These keep 99.5 %
# (22.6 %), still dropping silences of 2 s or more (docs/PERFORMANCE.md, issue 12).
DECODER = dict(threshold=0.35, min_silence_duration_ms=2000, speech_pad_ms=800)
# Qwen3-ASR: the speech joined, as faster-whisper's own `vad_filter` does for Whisper (its defaults).
QWEN = {}


def speech_regions(audio: np.ndarray, options: dict = PACKING) -> list[tuple[int, int]]:
    """(start, end) sample ranges of speech in 16 kHz mono audio; [] for silence, tones or noise."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(audio) < SAMPLE_RATE // 10:
        return []
    return [(r["start"], r["end"]) for r in get_speech_timestamps(audio, VadOptions(**options), sampling_rate=SAMPLE_RATE)]


def speech_only(audio: np.ndarray, options: dict = QWEN):
    """The speech joined, and the map from its times back to the audio's (None when there is none)."""
    from faster_whisper.vad import SpeechTimestampsMap

    regions = speech_regions(audio, options)
    if not regions:
        return audio[:0], None
    chunks = [{"start": a, "end": b} for a, b in regions]
    return np.concatenate([audio[a:b] for a, b in regions]), SpeechTimestampsMap(chunks, SAMPLE_RATE, time_precision=3)


def restored(seg: Segment, restore) -> Segment:
    """A segment decoded from `speech_only`'s joined speech, in the audio's own times."""
    words = None
    if seg.words is not None:
        words = [Word(restore.get_original_time(w.start), restore.get_original_time(w.end, is_end=True), w.word, w.probability)
                 for w in seg.words]
    return Segment(restore.get_original_time(seg.start), restore.get_original_time(seg.end, is_end=True), seg.text, words,
                   avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob, compression_ratio=seg.compression_ratio)
