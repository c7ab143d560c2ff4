"""Speech-to-text engines behind one small interface.

An engine owns its model (loaded once per process) and turns one piece of 16 kHz mono
float32 audio into `Segment`s with times relative to the piece. Chunking, records and
resume live in `callscribe.transcribe`, so every engine gets them alike.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

import numpy as np

from callscribe.records import Segment
from callscribe.settings import TranscribeSettings, is_apple_silicon

ENGINES = ("faster-whisper", "mlx-qwen3-asr")
DEFAULT_ALIGNER = "Qwen/Qwen3-ForcedAligner-0.6B"  # word times for mlx-qwen3-asr


class Engine(Protocol):
    name: str
    model: str
    versions: dict  # package versions and model checksum, for the journal
    # Optional, set by each transcribe() call: why the decoder itself stopped early (a repetition
    # loop it cut short), which the pipeline flags and retries like a loop it sees in the text.
    runaway: str | None

    def transcribe(self, audio: np.ndarray, settings: TranscribeSettings, safer: bool = False) -> tuple[list[Segment], str | None]:
        """Segments (times relative to `audio`) and the language used or detected; `safer` for a retry."""


def resolve_engine(name: str) -> str:
    if name in (None, "", "auto"):
        if is_apple_silicon() and importlib.util.find_spec("mlx_qwen3_asr") is not None:
            return "mlx-qwen3-asr"
        return "faster-whisper"
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: choose auto, {' or '.join(ENGINES)}")
    return name


def default_model(engine: str) -> str:
    return {"faster-whisper": "base", "mlx-qwen3-asr": "Qwen/Qwen3-ASR-0.6B"}[engine]


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
