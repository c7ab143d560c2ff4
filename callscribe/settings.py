"""Transcription settings: one dataclass whose fields are exactly the `transcribe` params."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass, field, fields

# Fields that change how fast a run goes but never what it writes: kept out of the hash,
# so that changing them re-runs the DVC stage as a cheap scan, not a re-transcription.
NOT_HASHED = {"workers", "cpu_threads"}


@dataclass
class TranscribeSettings:
    engine: str = "auto"  # auto | faster-whisper | mlx-qwen3-asr
    model: str = "auto"  # auto = the engine's default; a bundled name, a local folder or a hub id
    compute_type: str = "int8"
    beam_size: int = 2  # measured against 1 and 5 by bench/throughput.py: see docs/PERFORMANCE.md
    language: str | None = "en"
    timestamps: bool = True  # word timestamps
    aligner: str | None = "auto"  # mlx-qwen3-asr's forced aligner for word times: auto, a local folder or a hub id
    vad: bool = True  # skip non-speech (rings, hold, silence) before decoding
    max_chunk_minutes: float = 5.0  # long calls are cut at pauses into pieces this long at most
    pack_seconds: float = 10.0  # calls up to this long are decoded several to a window (0 = never)
    workers: int = 0  # 0 = one per CPU core (faster-whisper); the Apple GPU engine always uses 1
    cpu_threads: int = 1
    diarize: bool = False  # stereo: one transcript per channel; mono: speaker turns (callscribe.diarize)
    speakers: int | str = 2  # speakers in a mono call, or "auto" to estimate
    channel_names: list[str] = field(default_factory=lambda: ["agent", "caller"])  # stereo channels, in order
    vocabulary: list[str] | str | None = None  # the company's own words (callscribe.vocabulary): a list or a file

    @classmethod
    def from_params(cls, params: dict | None) -> "TranscribeSettings":
        params = dict(params or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown transcribe params: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**params).resolved()

    def resolved(self) -> "TranscribeSettings":
        """Replace `auto` with the concrete engine, model and worker count for this machine."""
        from callscribe.engines import DEFAULT_ALIGNER, default_model, resolve_engine
        from callscribe.vocabulary import terms

        s = TranscribeSettings(**asdict(self))
        s.engine = resolve_engine(s.engine)
        if s.model in (None, "", "auto"):
            s.model = default_model(s.engine)
        if s.engine != "mlx-qwen3-asr" or not s.timestamps:
            s.aligner = None  # only Qwen3-ASR's word times need one
        elif s.aligner in (None, "", "auto"):
            s.aligner = DEFAULT_ALIGNER
        s.vocabulary = terms(s.vocabulary)  # a file's terms, so that the hash follows its content
        if s.language in ("", "auto", "none"):
            s.language = None
        if s.speakers != "auto" and (not str(s.speakers).isdigit() or int(s.speakers) < 1):
            raise ValueError(f"transcribe.speakers in params.yaml is {s.speakers!r}: give a whole number of speakers (1 or more) or auto")
        if s.speakers != "auto":
            s.speakers = int(s.speakers)
        if s.engine == "mlx-qwen3-asr":
            s.workers = 1  # one process owns the GPU
        elif not s.workers or s.workers < 1:
            s.workers = max(1, (os.cpu_count() or 1) // max(1, s.cpu_threads))
        return s

    def hash(self) -> str:
        """Identity of what the settings produce; the journal skips files done with the same hash."""
        data = {k: v for k, v in asdict(self).items() if k not in NOT_HASHED and not (k == "vocabulary" and not v)}  # none: old hashes hold
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def is_apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"
