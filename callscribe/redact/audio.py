"""Audio copies with the masked spans bleeped (or silenced)."""

from __future__ import annotations

import os
from pathlib import Path

from callscribe.records import Transcript
from callscribe.redact.settings import RedactSettings


def bleep_audio(src: str | Path, dst: str | Path, spans: list[tuple[float, float]], mode: str = "bleep", pad: float = 0.1) -> None:
    """A copy of the call at `src` with each span (seconds) replaced by a 1 kHz tone or silence, as 16-bit WAV."""
    import numpy as np
    import soundfile as sf

    audio, sr = sf.read(str(src), dtype="float32", always_2d=True)
    for start, end in spans:
        a, b = max(int((start - pad) * sr), 0), min(int((end + pad) * sr), len(audio))
        if b <= a:
            continue
        tone = 0.2 * np.sin(2 * np.pi * 1000 * np.arange(b - a) / sr) if mode == "bleep" else np.zeros(b - a)
        audio[a:b] = tone[:, None]
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    sf.write(str(tmp), audio, sr, subtype="PCM_16", format="WAV")
    os.replace(tmp, dst)


def masked_spans(t: Transcript, settings: RedactSettings) -> list[tuple[float, float]]:
    """Seconds said by masked words (a run of them is one span): where the audio copy is bleeped."""
    spans: list[tuple[float, float]] = []
    inside = False
    for seg in t.segments:
        for w in seg.words or []:
            masked = settings.is_mask(w.word)
            if masked and inside:
                spans[-1] = (spans[-1][0], w.end)
            elif masked:
                spans.append((w.start, w.end))
            inside = masked
    return spans


def bleep_copy(t: Transcript, settings: RedactSettings, src: str | Path, dst: str | Path) -> None:
    """The audio copy of a masked call (`redact.audio`): its masked words bleeped or silenced."""
    bleep_audio(src, dst, masked_spans(t, settings), settings.audio_mode)
