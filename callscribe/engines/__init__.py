"""Speech-to-text engines behind one small interface.

An engine owns its model (loaded once per process) and turns one piece of 16 kHz mono
float32 audio into a `Decoded` result with times relative to the piece. Chunking, packing,
records and resume live in the rest of the package, so every engine gets them alike.
What the rest of the package needs to know about each engine is the `SPECS` table in `specs`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from callscribe.engines.specs import DEFAULT_ALIGNER, ENGINES, SPECS, Spec, resolve_engine  # noqa: F401 (re-exported)
from callscribe.records import Segment

if TYPE_CHECKING:
    from callscribe.settings import TranscribeSettings


class ModelError(Exception):
    """A model (or aligner) cannot be loaded or does not take these settings; the message says what to do."""


@dataclass
class Decoded:
    """What one `Engine.transcribe` call gives back."""

    segments: list[Segment] = field(default_factory=list)  # times relative to the audio given
    language: str | None = None  # the language used or detected
    # Why the decoder itself stopped early (a repetition loop it cut short), which the pipeline
    # flags and retries like a loop it sees in the text; None when it ran to the end.
    runaway: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


class Engine(Protocol):
    """What the pipeline asks of an engine. An engine class names it as its base (`class X(Engine)`) to
    inherit the default `transcribe_many`: a loop over `transcribe`."""

    name: str
    model: str
    versions: dict  # package versions and model checksum, for the journal
    supports_packing: bool  # its word times are good enough to hand packed calls back by time
    model_seconds: float  # seconds spent in the model so far: what the rest of the pipeline costs is the remainder

    def transcribe(self, audio: np.ndarray, settings: TranscribeSettings, *, safer: bool = False, packed: bool = False,
                   hint: str | None = None) -> Decoded:
        """`safer`: a retry of a piece that came out as a loop; `packed`: several calls with pauses between;
        `hint`: words to expect (callscribe.vocabulary), given only when a segment is decoded again for them."""
        ...

    def transcribe_many(self, pieces: list[np.ndarray], settings: TranscribeSettings, *, safer: bool = False) -> list[Decoded]:
        """Pieces of one call or of several -> what `transcribe` gives for each. An engine that can decodes
        their windows together (a batch); this default decodes them one by one."""
        return [self.transcribe(piece, settings, safer=safer) for piece in pieces]

    def minutes_at_once(self, settings: TranscribeSettings) -> float:
        """How much audio `transcribe_many` is given at once: a piece's worth (memory grows with it)."""
        return settings.max_chunk_minutes


def local(name: str) -> str:
    """A model or aligner name as given, with `~` expanded (hub ids have none)."""
    return os.path.expanduser(name)


def load_engine(settings: TranscribeSettings) -> Engine:
    if settings.engine == "faster-whisper":
        from callscribe.engines.whisper import WhisperEngine

        return WhisperEngine(settings)
    if settings.engine == "mlx-qwen3-asr" and settings.batch_size > 1:
        from callscribe.engines.qwen_batch import BatchedQwenEngine

        return BatchedQwenEngine(settings)
    if settings.engine == "mlx-qwen3-asr":
        from callscribe.engines.qwen import QwenEngine

        return QwenEngine(settings)
    raise ValueError(f"unknown engine {settings.engine!r}")
