"""Voice activity: where the speech is, with the Silero VAD model that faster-whisper carries."""

from __future__ import annotations

import numpy as np

from callscribe.audio import SAMPLE_RATE


def speech_regions(audio: np.ndarray, min_silence_ms: int = 500, pad_ms: int = 400) -> list[tuple[int, int]]:
    """(start, end) sample ranges of speech in 16 kHz mono audio; [] for silence, tones or noise."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(audio) < SAMPLE_RATE // 10:
        return []
    options = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms)
    return [(r["start"], r["end"]) for r in get_speech_timestamps(audio, options)]
