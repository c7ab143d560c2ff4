"""Transcription settings: one dataclass whose fields are exactly the `transcribe` params, with
params.yaml's values as defaults (a test keeps the two equal). Its annotations are the section's
schema (callscribe.params checks params.yaml against them with pydantic); its hash decides what is redone."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from callscribe import vocabulary
from callscribe.engines.specs import ENGINES, SPECS, resolve_engine
from callscribe.vad import DECODER, PACKING

# Fields that change how fast a run goes but never what it writes: kept out of the hash,
# so that changing them re-runs the DVC stage as a cheap scan, not a re-transcription.
# batch_size: the same tokens batched or not (tests/test_qwen_batch.py, tests/test_whisper_batch.py)
NOT_HASHED = {"workers", "cpu_threads", "cluster", "device", "batch_size", "unresolved"}

# What each engine's library takes (CTranslate2's types; mlx-qwen3-asr's quantizations and floats).
COMPUTE_TYPES = ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "int4",
                 "float16", "bfloat16", "float32")
Engine = Literal["auto", "faster-whisper", "mlx-qwen3-asr"]
Number = int | float  # not float alone: pydantic would make 5 into 5.0, and the hash tells them apart


@dataclass
class TranscribeSettings:
    # Checked before any work (callscribe.params): strict types, so `beam_size: '2'` is refused, not guessed.
    __pydantic_config__ = ConfigDict(strict=True, revalidate_instances="always")

    engine: Engine = "auto"  # auto | faster-whisper | mlx-qwen3-asr
    # auto = the engine's default; a bundled name, a local folder or a hub id; or one per engine
    # ({faster-whisper: small, mlx-qwen3-asr: ~/qwen}), for a Ray cluster whose nodes run different engines
    model: Annotated[str | dict[Literal["faster-whisper", "mlx-qwen3-asr"], str],
                     Field(description="auto, a model name, folder or hub id, or one per engine: "
                                       "{faster-whisper: small, mlx-qwen3-asr: auto}")] = "auto"
    compute_type: Literal[COMPUTE_TYPES] = "int8"
    beam_size: Annotated[int, Field(ge=1, le=20)] = 2  # measured against 1 and 5 by bench/throughput.py: see docs/PERFORMANCE.md
    language: Annotated[str | None, Field(pattern=r"^(auto|none|[A-Za-z]{2,3}|)$",
                                          description="a language code such as en, or auto to detect")] = "en"
    timestamps: bool = True  # word timestamps
    aligner: str | None = "auto"  # mlx-qwen3-asr's forced aligner for word times: auto, a local folder or a hub id
    # ~30 s windows decoded together (1 = one at a time, each conditioned on the last); auto = the engine's
    # measured best (mlx-qwen3-asr 8, faster-whisper 1); docs/PERFORMANCE.md
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    draft_model: str | None = ""  # mlx-qwen3-asr: a smaller model drafting tokens for this one (speculative; batch_size 1)
    vad: bool = True  # skip non-speech (rings, hold, silence) before decoding
    # Numbers as params.yaml writes them (5, not 5.0): the hash tells them apart.
    max_chunk_minutes: Annotated[Number, Field(gt=0)] = 5  # long calls are cut at pauses into pieces this long at most
    pack_seconds: Annotated[Number, Field(ge=0, lt=30)] = 10  # calls up to this long are decoded several to a window (0 = never)
    workers: Annotated[int, Field(ge=0)] = 0  # 0 = one per CPU core (faster-whisper); the Apple GPU engine always uses 1
    cpu_threads: Annotated[int, Field(ge=1)] = 1
    # local (this machine's process pool), ray (the Ray cluster joined; RAY_ADDRESS), ray://host:port
    cluster: Annotated[str, Field(pattern=r"^(local|ray|ray://\S+)$", description="local, ray or ray://HOST:PORT")] = "local"
    # faster-whisper: cpu, or auto (CUDA where CTranslate2 sees a GPU; on a Ray cluster one worker per GPU)
    device: Literal["cpu", "auto", "cuda"] = "cpu"
    diarize: bool = True  # stereo: one transcript per channel; mono: speaker turns (callscribe.diarize)
    # speakers in a mono call, or auto to estimate (docs/PERFORMANCE.md)
    speakers: Annotated[Annotated[int, Field(ge=1)] | Literal["auto"] | Annotated[str, Field(pattern=r"^[1-9][0-9]*$")],
                        Field(description="auto, or a whole number of speakers (1 or more)")] = "auto"
    # who is who in a mono call: dvector, or campplus (segmentation-3.0 + CAM++, ONNX files made by `make setup`)
    speaker_model: Literal["dvector", "campplus"] = "dvector"
    # a stereo call's channels, in order
    channel_names: Annotated[list[str], Field(min_length=2, max_length=2)] = field(default_factory=lambda: ["agent", "caller"])
    vocabulary: list[str] | str = field(default_factory=list)  # the company's own words (callscribe.vocabulary): a list or a file
    # Not a param: the settings as given, kept by `resolved` when each node of a cluster may resolve `auto`
    # for its own engine (`engine_choices`); a field, so that copies keep it.
    unresolved: dict | None = field(default=None, repr=False, compare=False, metadata={"param": False})

    @classmethod
    def from_params(cls, params: dict | None) -> "TranscribeSettings":
        from callscribe.params import check_section  # the schema's one-line errors (params imports this module by name only)

        return check_section("transcribe", cls, dict(params or {})).resolved()

    def resolved(self, engine: str | None = None) -> "TranscribeSettings":
        """Replace `auto` with the concrete engine, model and worker count for this machine (or, with
        `engine`, for a cluster node that runs that engine: `engine_choices`)."""
        s = TranscribeSettings(**asdict(self))
        s.engine = engine or resolve_engine(s.engine)
        spec = SPECS[s.engine]
        if isinstance(s.model, dict):  # the schema checked its keys (from_params)
            s.model = s.model.get(s.engine, "auto")
        if s.model in (None, "", "auto"):
            s.model = spec.default_model
        if s.batch_size == "auto":
            s.batch_size = spec.batch_size
        if spec.aligner is None or not s.timestamps:
            s.aligner = None  # only an engine whose word times need one (Qwen3-ASR)
        elif s.aligner in (None, "", "auto"):
            s.aligner = spec.aligner
        s.vocabulary = vocabulary.terms(s.vocabulary)  # a file's terms, so that the hash follows its content
        if s.language in ("", "auto", "none"):
            s.language = None
        if s.speakers != "auto":
            s.speakers = int(s.speakers)  # the CLI gives "3"
        if not spec.parallel:
            s.workers = 1  # one process owns the GPU
        elif not s.workers or s.workers < 1:
            s.workers = max(1, (os.cpu_count() or 1) // max(1, s.cpu_threads))
        # On a Ray cluster, `engine: auto` lets each node run the engine that fits it (callscribe.pools.cluster), with
        # its own model where `model` is auto or one per engine; kept to resolve for the other engines.
        per_engine_model = isinstance(self.model, dict) or self.model in (None, "", "auto")
        mixed = self.cluster != "local" and self.engine in (None, "", "auto") and per_engine_model
        s.unresolved = {k: v for k, v in asdict(self).items() if k != "unresolved"} if mixed and engine is None else None
        return s

    def engine_choices(self) -> dict[str, "TranscribeSettings"]:
        """The resolved settings per engine this run may use: on a Ray cluster with `engine: auto` (and
        `model` auto or one per engine), each engine's; else only these. Each record is hashed with its
        engine's settings, and the journal takes a call done by any of them as done (`hashes`)."""
        if self.unresolved is None:
            return {self.engine: self}
        given = TranscribeSettings(**self.unresolved)
        return {self.engine: self, **{e: given.resolved(engine=e) for e in ENGINES if e != self.engine}}

    def hashes(self) -> set[str]:
        """Every settings hash the journal accepts as done with these settings (one, except on a mixed cluster)."""
        return {s.hash() for s in self.engine_choices().values()}

    def hash(self) -> str:
        """Identity of what the settings produce; the journal skips files done with the same hash."""
        # An empty vocabulary, no draft model or the d-vector speaker model leaves the hash as it was before those fields existed.
        data = {k: v for k, v in asdict(self).items() if k not in NOT_HASHED and not (k in ("vocabulary", "draft_model") and not v)
                and not (k == "speaker_model" and v == "dvector")}
        if self.vocabulary:  # used only to decode again what nearly says a term (was: a hint on every window)
            data["vocabulary"] = {"terms": self.vocabulary, "use": "second listen", "near": vocabulary.NEAR}
        if self.vad:  # the VAD's options shape the text too (issue 12 changed them): transcripts made before are redone
            data["vad_options"] = {"decoder": DECODER, "packing": PACKING}
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]



def param_fields() -> list[str]:
    """The `transcribe` params: the fields, less those that are not params."""
    return [f.name for f in fields(TranscribeSettings) if f.metadata.get("param", True)]
