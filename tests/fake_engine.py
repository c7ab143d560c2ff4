"""A protocol-true engine without a model: scripted text with word times, for the pipeline's own tests.

`FakeEngine(script)` answers every `transcribe` / `transcribe_many` call as the `Engine` protocol says,
with the text `script(heard)` returns for what it heard (`Heard`: the audio's seconds, whether it was a
retry, a packed tape or a hinted second listen). Its words are spread over the audio's loud stretches,
in piece time, so packed tapes go back to their calls by time as with Whisper. The script can make it
loop (return a phrase many times), skip (return ""), raise (raise), or crash the process (`CRASH`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from callscribe.audio import SAMPLE_RATE
from callscribe.engines import Decoded, Engine
from callscribe.records import Segment, Word

CRASH = "<crash>"  # a script returning this ends the process, as a native decoder crash does


@dataclass
class Heard:
    seconds: float
    safer: bool
    packed: bool
    hint: str | None
    audio: np.ndarray


class FakeEngine(Engine):
    name, model, versions = "fake", "fake", {"fake": "1"}

    def __init__(self, script: str | Callable[[Heard], str] = "hello there", *, supports_packing: bool = True):
        self.script = script if callable(script) else (lambda heard, text=script: text)
        self.supports_packing = supports_packing
        self.model_seconds = 0.0
        self.heard: list[Heard] = []  # every call, in order
        self.batches: list[int] = []  # pieces per transcribe_many call

    def transcribe(self, audio: np.ndarray, settings, *, safer: bool = False, packed: bool = False,
                   hint: str | None = None) -> Decoded:
        heard = Heard(len(audio) / SAMPLE_RATE, safer, packed, hint, audio)
        self.heard.append(heard)
        stretches = _loud(audio) if packed else [(0, len(audio))] if len(audio) else []
        segments = []
        for a, b in stretches:
            text = self.script(heard)
            if text == CRASH:
                os._exit(70)
            if text:
                segments.append(_segment(text, a / SAMPLE_RATE, b / SAMPLE_RATE))
        return Decoded(segments, settings.language or "en")

    def transcribe_many(self, pieces: list[np.ndarray], settings, *, safer: bool = False) -> list[Decoded]:
        self.batches.append(len(pieces))
        return super().transcribe_many(pieces, settings, safer=safer)


def _segment(text: str, start: float, end: float) -> Segment:
    """The words spread evenly over [start, end]."""
    words = text.split()
    step = (end - start) / len(words)
    out = [Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), " " + w, 0.9) for i, w in enumerate(words)]
    return Segment(round(start, 3), round(end, 3), text, out)


def _loud(audio: np.ndarray, gap: float = 1.5) -> list[tuple[int, int]]:
    """Sample ranges of sound, split where the audio is silent for `gap` seconds (the packing pause)."""
    hop = SAMPLE_RATE // 50
    frames = np.abs(audio[: len(audio) // hop * hop]).reshape(-1, hop).max(1) > 1e-3
    out, start, quiet = [], None, 0
    for i, loud in enumerate(frames):
        if loud:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * hop >= gap * SAMPLE_RATE:
                out.append((start * hop, (i - quiet + 1) * hop))
                start, quiet = None, 0
    if start is not None:
        out.append((start * hop, (len(frames) - quiet) * hop))
    return out
