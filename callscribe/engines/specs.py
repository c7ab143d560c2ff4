"""What the rest of the package needs to know about each engine, without loading any: the specs table
and `auto` resolution. A leaf: settings imports it, and it imports nothing of callscribe."""

from __future__ import annotations

import importlib.util
import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    default_model: str
    aligner: str | None = None  # default forced aligner, where word times need one
    parallel: bool = True  # False: one process owns the device, so one worker
    batch_size: int = 1  # `transcribe.batch_size: auto`: windows decoded together (docs/PERFORMANCE.md)


SPECS = {
    # batch 1: batch 8 (lock-step) gives the same text for 1.07-1.09x less CPU, but took a 90-minute call's
    # worker to the 1.5 GB bound (1,521 MB, still growing); batch 4 held it, its pipeline CPU not measured yet
    "faster-whisper": Spec(default_model="base"),
    "mlx-qwen3-asr": Spec(default_model="Qwen/Qwen3-ASR-0.6B", aligner="Qwen/Qwen3-ForcedAligner-0.6B", parallel=False, batch_size=8),
}
ENGINES = tuple(SPECS)
DEFAULT_ALIGNER = SPECS["mlx-qwen3-asr"].aligner


def is_apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def resolve_engine(name: str | None) -> str:
    if name in (None, "", "auto"):
        if is_apple_silicon() and importlib.util.find_spec("mlx_qwen3_asr") is not None:
            return "mlx-qwen3-asr"
        return "faster-whisper"
    if name not in SPECS:
        raise ValueError(f"unknown engine {name!r}: choose auto, {' or '.join(ENGINES)}")
    return name
