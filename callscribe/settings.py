"""Transcription settings: one dataclass whose fields are exactly the `transcribe` params,
with params.yaml's values as defaults (a test keeps the two equal)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields

from callscribe import vocabulary
from callscribe.engines import SPECS, resolve_engine
from callscribe.vad import DECODER, PACKING

# Fields that change how fast a run goes but never what it writes: kept out of the hash,
# so that changing them re-runs the DVC stage as a cheap scan, not a re-transcription.
# batch_size: the same tokens batched or not (tests/test_qwen_batch.py)
NOT_HASHED = {"workers", "cpu_threads", "cluster", "device", "batch_size"}


@dataclass
class TranscribeSettings:
    engine: str = "auto"  # auto | faster-whisper | mlx-qwen3-asr
    model: str = "auto"  # auto = the engine's default; a bundled name, a local folder or a hub id
    compute_type: str = "int8"
    beam_size: int = 2  # measured against 1 and 5 by bench/throughput.py: see docs/PERFORMANCE.md
    language: str | None = "en"
    timestamps: bool = True  # word timestamps
    aligner: str | None = "auto"  # mlx-qwen3-asr's forced aligner for word times: auto, a local folder or a hub id
    batch_size: int = 8  # mlx-qwen3-asr: ~30 s windows decoded together on the GPU (1 = one at a time); docs/PERFORMANCE.md
    draft_model: str | None = ""  # mlx-qwen3-asr: a smaller model drafting tokens for this one (speculative; batch_size 1)
    vad: bool = True  # skip non-speech (rings, hold, silence) before decoding
    # Numbers as params.yaml writes them (5, not 5.0): the hash tells them apart.
    max_chunk_minutes: float = 5  # long calls are cut at pauses into pieces this long at most
    pack_seconds: float = 10  # calls up to this long are decoded several to a window (0 = never)
    workers: int = 0  # 0 = one per CPU core (faster-whisper); the Apple GPU engine always uses 1
    cpu_threads: int = 1
    cluster: str = "local"  # local (this machine's process pool), ray (the Ray cluster joined; RAY_ADDRESS), ray://host:port
    device: str = "cpu"  # faster-whisper: cpu, or auto (CUDA where CTranslate2 sees a GPU; on a Ray cluster one worker per GPU)
    diarize: bool = True  # stereo: one transcript per channel; mono: speaker turns (callscribe.diarize)
    speakers: int | str = 2  # speakers in a mono call, or "auto" to estimate
    channel_names: list[str] = field(default_factory=lambda: ["agent", "caller"])  # stereo channels, in order
    vocabulary: list[str] | str = field(default_factory=list)  # the company's own words (callscribe.vocabulary): a list or a file

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
        s = TranscribeSettings(**asdict(self))
        s.engine = resolve_engine(s.engine)
        spec = SPECS[s.engine]
        if s.model in (None, "", "auto"):
            s.model = spec.default_model
        if spec.aligner is None or not s.timestamps:
            s.aligner = None  # only an engine whose word times need one (Qwen3-ASR)
        elif s.aligner in (None, "", "auto"):
            s.aligner = spec.aligner
        s.vocabulary = vocabulary.terms(s.vocabulary)  # a file's terms, so that the hash follows its content
        if s.language in ("", "auto", "none"):
            s.language = None
        if s.speakers != "auto" and (not str(s.speakers).isdigit() or int(s.speakers) < 1):
            raise ValueError(f"transcribe.speakers in params.yaml is {s.speakers!r}: give a whole number of speakers (1 or more) or auto")
        if s.speakers != "auto":
            s.speakers = int(s.speakers)
        if s.cluster not in ("local", "ray") and not str(s.cluster).startswith("ray://"):
            raise ValueError(f"transcribe.cluster in params.yaml is {s.cluster!r}: give local, ray or ray://HOST:PORT")
        if not spec.parallel:
            s.workers = 1  # one process owns the GPU
        elif not s.workers or s.workers < 1:
            s.workers = max(1, (os.cpu_count() or 1) // max(1, s.cpu_threads))
        return s

    def hash(self) -> str:
        """Identity of what the settings produce; the journal skips files done with the same hash."""
        # An empty vocabulary or no draft model leaves the hash as it was before those fields existed.
        data = {k: v for k, v in asdict(self).items() if k not in NOT_HASHED and not (k in ("vocabulary", "draft_model") and not v)}
        if self.vad:  # the VAD's options shape the text too (issue 12 changed them): transcripts made before are redone
            data["vad_options"] = {"decoder": DECODER, "packing": PACKING}
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

