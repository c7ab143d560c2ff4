"""mlx-qwen3-asr engine: Qwen3-ASR on the Apple GPU through MLX (on MLX's CPU backend elsewhere, for tests).

One `Session` owns the model for the life of the process (the pipeline runs this engine in
one process, never forked). The library cuts each piece into ~30 s windows at pauses and stops
a window's decoding when it starts repeating itself; this engine reports such early stops as
`Decoded.runaway`, so the pipeline flags the piece in the record and retries it with `safer=True`:
10 s windows and a tighter token budget. Word times come from the library's forced aligner
(Qwen3-ForcedAligner), non-speech is skipped with the same Silero VAD faster-whisper uses (`vad.QWEN`).
"""

from __future__ import annotations

import importlib.metadata
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from callscribe import vad
from callscribe.audio import SAMPLE_RATE
from callscribe.engines import Decoded, Engine, ModelError, local
from callscribe.records import Segment, Word

if TYPE_CHECKING:
    from callscribe.settings import TranscribeSettings

SAFER_WINDOW_SECONDS = 10.0  # a retry decodes short windows: a loop costs less, the budget is tighter
SAFER_TOKENS_PER_SECOND = 8  # fast speech is ~5 tokens/s; the library's own budget allows 12
# compute_type -> (decoder bits, encoder bits): the library's recipes (8-bit is lossless on its
# LibriSpeech lane; 4-bit keeps the encoder at 8 bits, where 4 bits costs the most accuracy).
# What follows the bits names the activations' dtype; bare int8 and int4 compute in float16.
QUANTIZED = {"int8": (8, 8), "int8_float16": (8, 8), "int8_float32": (8, 8), "int4": (4, 8)}
FLOATS = ("float16", "bfloat16", "float32")


def activation_dtype(compute_type: str) -> str:
    """The float dtype the model computes in: `int8_float32` -> float32, `int8` -> float16."""
    if compute_type in FLOATS:
        return compute_type
    _, _, floats = compute_type.partition("_")
    return floats if floats in FLOATS else "float16"


class QwenEngine(Engine):
    name = "mlx-qwen3-asr"
    supports_packing = False  # its word times come from a separate aligner, per window

    def __init__(self, settings: TranscribeSettings):
        import mlx.core as mx
        from mlx_qwen3_asr import Session

        self.model = settings.model
        self.model_seconds = 0.0  # seconds in the model and the aligner so far
        bits = QUANTIZED.get(settings.compute_type)
        if bits is None and settings.compute_type not in FLOATS + ("default", "auto"):
            raise ModelError(
                f"transcribe.compute_type={settings.compute_type!r} is not supported by mlx-qwen3-asr: "
                f"use int8 (8-bit), int4 (4-bit decoder, 8-bit encoder) or {', '.join(FLOATS)}"
            )
        dtype = {"float16": mx.float16, "bfloat16": mx.bfloat16, "float32": mx.float32}[activation_dtype(settings.compute_type)]
        try:
            self.session = Session(local(settings.model), dtype=dtype)
        except Exception as e:  # noqa: BLE001 - hub, file and format errors alike
            raise ModelError(
                f"cannot load Qwen3-ASR model {settings.model!r}: {type(e).__name__}: {e}. A hub id is downloaded once "
                "into ~/.cache/huggingface and needs the network that first time; otherwise set transcribe.model to a "
                "local folder holding config.json, *.safetensors, vocab.json and merges.txt"
            ) from e
        self.versions = {
            "mlx-qwen3-asr": importlib.metadata.version("mlx-qwen3-asr"),
            "mlx": importlib.metadata.version("mlx"),
            "model_path": self.session.model_info["resolved_model_path"],  # a hub snapshot's path names its commit
            "dtype": str(dtype).removeprefix("mlx.core."),
            "quantization": _quantize(self.session.model, bits),
        }
        self.draft = None  # speculative decoding: the library checks that its drafts match greedy decoding
        if settings.draft_model:
            from mlx_qwen3_asr import load_model

            try:
                self.draft, _ = load_model(local(settings.draft_model), dtype=dtype)
            except Exception as e:  # noqa: BLE001
                raise ModelError(f"cannot load transcribe.draft_model {settings.draft_model!r}: {type(e).__name__}: {e}. "
                                 "Give a local folder or hub id of a smaller Qwen3-ASR (e.g. Qwen/Qwen3-ASR-0.6B for 1.7B), or null") from e
            self.versions["draft_model"] = settings.draft_model
            _quantize(self.draft, bits)
        self.aligner = None
        if settings.timestamps:
            self.aligner = _load_aligner(local(settings.aligner), dtype)
            self.versions["aligner"] = settings.aligner

    def _timed(self, fn, *args, **kwargs):
        """Call the model or the aligner, counting the seconds spent in it."""
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.model_seconds += time.perf_counter() - t0

    def transcribe(self, audio: np.ndarray, settings: TranscribeSettings, *, safer: bool = False, packed: bool = False,
                   hint: str | None = None) -> Decoded:
        speech, restore = vad.speech_only(audio, vad.QWEN) if settings.vad else (audio, None)
        if len(speech) < SAMPLE_RATE // 10:  # nothing the model could hear
            return Decoded([], settings.language)
        if safer:
            from mlx_qwen3_asr.chunking import split_audio_into_chunks

            windows = split_audio_into_chunks(speech, sr=SAMPLE_RATE, max_chunk_sec=SAFER_WINDOW_SECONDS)
        else:
            windows = [(speech, 0.0)]  # the library cuts it into ~30 s windows itself

        decoded = []  # (window, offset, the library's chunk, its language)
        for window, offset in windows:
            budget = math.ceil(len(window) / SAMPLE_RATE * SAFER_TOKENS_PER_SECOND) + 16 if safer else None
            result = self._timed(self.session.transcribe, window, language=settings.language, return_chunks=True, max_new_tokens=budget,
                                 draft_model=self.draft,
                                 context=hint or "")
            decoded += [(window, offset, chunk, result.language) for chunk in result.chunks]
        return self._decoded(decoded, settings, restore)

    def _decoded(self, windows: list[tuple[np.ndarray, float, dict, str]], settings: TranscribeSettings, restore) -> Decoded:
        """A piece's decoded windows -> its `Decoded`: segments in the piece's time, early stops as `runaway`.
        Each window: (its audio, its offset in seconds, the library's chunk: text, start, end, finish_reason, the language)."""
        segments, stops, language = [], [], settings.language
        for window, offset, chunk, spoken in windows:
            if settings.language is None:
                language = _language_code(spoken) or language
            if chunk["finish_reason"] != "eos":  # "repetition": a loop cut short; "length": out of tokens
                stops.append(chunk["finish_reason"])
            if chunk["text"].strip():
                segments += self._segments(window, chunk, offset, spoken)
        runaway = None
        if stops:
            runaway = f"decoder stopped {len(stops)} of {len(windows)} windows early ({', '.join(sorted(set(stops)))})"
        if restore is not None:
            segments = [vad.restored(s, restore) for s in segments]
        return Decoded(segments, language, runaway)

    def _segments(self, window: np.ndarray, chunk: dict, offset: float, language: str) -> list[Segment]:
        """One library window -> Segments: one per sentence with word times, else the whole window."""
        text, start, end = chunk["text"].strip(), chunk["start"], chunk["end"]
        if self.aligner is None:
            return [Segment(round(offset + start, 3), round(offset + end, 3), text)]
        piece = window[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
        aligned = self._timed(self.aligner.align, piece, text, language if language != "unknown" else "")
        words = [
            Word(round(offset + start + min(max(a.start_time, 0.0), end - start), 3),
                 round(offset + start + min(max(a.end_time, a.start_time, 0.0), end - start), 3), " " + spelled, None)
            for a, spelled in zip(aligned, _spelled(text, [a.text for a in aligned]))
        ]
        if not words:
            return [Segment(round(offset + start, 3), round(offset + end, 3), text, [])]
        out, current = [], []
        for w in words:
            current.append(w)
            if w.word.endswith((".", "?", "!")) or w is words[-1]:
                out.append(Segment(current[0].start, current[-1].end, "".join(x.word for x in current).strip(), current))
                current = []
        if len(out) == 1:
            out[0].text = text
        return out


def _quantize(model, bits: tuple[int, int] | None) -> str:
    """Quantize the loaded model in memory with the library's recipe, unless the checkpoint already is."""
    import mlx.core as mx
    import mlx.utils
    from mlx_qwen3_asr.convert import quantize_model

    if any(k.endswith(".scales") for k, _ in mlx.utils.tree_flatten(model.parameters())):
        return "from the checkpoint"
    if bits is None:
        return "none"
    quantize_model(model, bits=bits[0], group_size=64, encoder_bits=bits[1])
    mx.eval(model.parameters())
    return f"{bits[0]}-bit decoder, {bits[1]}-bit encoder, group 64 (in memory)"


def _load_aligner(name: str, dtype):
    from mlx_qwen3_asr import ForcedAligner

    aligner = ForcedAligner(name, dtype=dtype)
    try:  # load now: a missing aligner should stop the run here, not at its first call
        aligner.align(np.zeros(SAMPLE_RATE, np.float32), "load", "English")
    except Exception as e:  # noqa: BLE001
        raise ModelError(
            f"cannot load the forced aligner {name!r} for word timestamps: {e}. It is downloaded once from the "
            "Hugging Face hub (needs the network that first time); or set transcribe.aligner to a local folder, "
            "or transcribe.timestamps=false for segment times only"
        ) from e
    return aligner


def _spelled(text: str, aligned: list[str]) -> list[str]:
    """The aligner's words with their punctuation back (it aligns letters and digits only)."""
    from mlx_qwen3_asr.forced_aligner import ForcedAlignTextProcessor

    out, pending = [], ""
    for token in text.split():
        if ForcedAlignTextProcessor.clean_token(token):
            out.append(pending + token)
            pending = ""
        elif out:
            out[-1] += " " + token
        else:
            pending += token + " "
    return out if len(out) == len(aligned) else aligned  # scripts without spaces split differently


def _language_code(name: str | None) -> str | None:
    """'English' -> 'en', as Whisper reports languages; None when the model could not tell."""
    from mlx_qwen3_asr.tokenizer import known_language_aliases

    if not name or name == "unknown":
        return None
    codes = [a for a in known_language_aliases().get(name, ()) if len(a) == 2]
    return codes[0] if codes else name
