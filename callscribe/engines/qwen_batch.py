"""Batched Qwen3-ASR: several ~30 s windows through the encoder and the decoder at once.

mlx-qwen3-asr 0.4.4 decodes one window at a time (its `transcribe_batch` loops over files).
One decoding step is bound by reading the weights, so a batch of windows costs little more than
one on the GPU. This module runs the library's own model, tokenizer and prompt; only the
batching is ours, and each piece names the upstream change that would remove it:

- `encode`: the encoder's 1 s conv chunks of every window go through the conv stem as one batch,
  and its 8 s attention windows through the transformer as one padded batch with a key mask.
  The library's `AudioEncoder.__call__` takes a batch but encodes it item by item
  (upstream: batch `_encode_single` across items the same way).
- `generate`: prompts of different lengths are left-padded; one KV cache holds every row; a pad
  mask keeps rows apart; a row that ends (end of text, repetition, token budget: the library's
  own tests) leaves the batch and the cache. The library's `prefill`/`step` take no attention
  mask and `generate_with_info` takes one row (upstream: an `attention_mask` argument on both,
  and per-row positions and budgets in `generate_with_info`).

Greedy decoding gives the same tokens batched and one at a time: `tests/test_qwen_batch.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from callscribe import vad
from callscribe.audio import SAMPLE_RATE
from callscribe.engines import Decoded, ModelError
from callscribe.engines.qwen import SAFER_TOKENS_PER_SECOND, SAFER_WINDOW_SECONDS, QwenEngine
from callscribe.settings import TranscribeSettings

WINDOW_SECONDS = 30.0  # the library's window (mlx_qwen3_asr.chunking.MAX_CHUNK_SECONDS)


@dataclass
class WindowText:
    text: str
    language: str  # as the model wrote it ("English"), or "unknown"
    finish_reason: str  # eos | repetition | length, as the library reports it
    tokens: list[int]


def encode(tower, mels: list) -> list:
    """Mel spectrograms (n_mels, frames) -> audio features (tokens, dim) each, as
    `tower.encode_frames` gives them one by one, computed as one batch."""
    import mlx.core as mx

    chunk = tower.config.n_window * 2  # 100 frames: the conv stem's unit, with its own positions
    per_window = tower.config.n_window_infer // chunk  # chunks per 8 s attention window
    out: list = [None] * len(mels)
    stems, owners = [], []  # padded chunks to convolve; (item, number of chunks, tail tokens)
    for i, mel in enumerate(mels):
        frames = int(mel.shape[1])
        if frames < chunk:  # under 1 s the library convolves the piece at its own width
            out[i] = tower.encode_frames(mel)
            continue
        n = -(-frames // chunk)
        padded = mx.pad(mel, [(0, 0), (0, n * chunk - frames)])  # zeros, as the library pads a tail
        stems.append(padded.reshape(mel.shape[0], n, chunk).transpose(1, 0, 2))
        tail = frames - (n - 1) * chunk
        owners.append((i, n, (tail + 7) // 8))
    if not stems:
        return out

    x = tower._apply_conv_stem(mx.concatenate(stems)[..., None])  # (chunks, F', T', C)
    k, f, t, c = x.shape
    x = tower.conv_out(x.transpose(0, 2, 3, 1).reshape(k, t, c * f))
    x = x + tower.embed_positions(t).astype(x.dtype)  # every chunk counts its positions from 0

    # Each item's tokens, then its 8 s attention windows, padded into one batch.
    tokens, start = [], 0
    for i, n, tail in owners:
        tokens.append(mx.concatenate([x[start : start + n - 1].reshape(-1, x.shape[-1]), x[start + n - 1, :tail]]))
        start += n
    width = t * per_window
    rows, lengths, spans = [], [], []
    for seq in tokens:
        first = len(rows)
        for s in range(0, seq.shape[0], width):
            piece = seq[s : s + width]
            lengths.append(piece.shape[0])
            rows.append(mx.pad(piece, [(0, width - piece.shape[0]), (0, 0)]))
        spans.append((first, len(rows), seq.shape[0]))
    h = mx.stack(rows)
    mask = None
    if min(lengths) < width:  # padded keys are never attended to
        mask = (mx.arange(width)[None, :] < mx.array(lengths)[:, None])[:, None, None, :]
    for layer in tower.layers:
        h = layer(h, mask=mask)
    h = tower.proj2(_gelu(tower.proj1(tower.ln_post(h))))
    for (i, _, _), (a, b, n_tokens) in zip(owners, spans):
        out[i] = h[a:b].reshape(-1, h.shape[-1])[:n_tokens]
    return out


def _gelu(x):
    from mlx import nn

    return nn.gelu(x)


def generate(model, prompts: list[list[int]], features: list, budgets: list[int], eos: tuple[int, ...] = (151643, 151645),
             stats: dict | None = None):
    """Greedy decoding of several prompts at once -> the library's `GenerationResult` for each.
    `stats`, if given, gets the seconds spent in prefill and in decoding steps, and the steps."""
    import time

    import mlx.core as mx
    from mlx_qwen3_asr.generate import (
        GenerationConfig,
        _detect_repetition,
        _finalize_generation_result,
    )

    n = len(prompts)
    length = max(len(p) for p in prompts)
    pads = [length - len(p) for p in prompts]
    ids = mx.array([[eos[0]] * pad + p for pad, p in zip(pads, prompts)])  # left-padded: every row ends together
    most = max(f.shape[0] for f in features)
    audio = mx.stack([mx.pad(f, [(0, most - f.shape[0]), (0, 0)]) for f in features])
    embeds = model._inject_audio_features(model._embed_tokens(ids), audio, ids == model.audio_token_id)
    positions = mx.maximum(mx.arange(length)[None, :] - mx.array(pads)[:, None], 0)  # each row counts from its own start
    cache = model.create_cache(max_seq_len=length + max(budgets))
    q = mx.arange(length)
    pad = mx.array(pads)
    if any(pads):  # causal, no pad keys; a pad query sees itself (a row of nothing but masked keys gives NaN)
        valid = q[None, :] >= pad[:, None]
        mask = (q[None, :, None] >= q[None, None, :]) & (valid[:, None, :] | (q[:, None] == q[None, :])[None])
        mask = mask[:, None]
    else:
        mask = (q[:, None] >= q[None, :])[None, None]
    t0 = time.perf_counter()
    hidden = model.model(inputs_embeds=embeds, position_ids=mx.stack([positions] * 3, axis=1), attention_mask=mask, cache=cache)
    next_tokens = np.array(mx.argmax(model.lm_head(hidden[:, -1, :]), axis=-1)).tolist()
    t1 = time.perf_counter()

    generated = [[t] for t in next_tokens]
    active = list(range(n))  # prompt rows still decoding, in cache order
    steps = 0
    while True:
        still = [r for r in active if not (generated[r][-1] in eos or len(generated[r]) >= budgets[r] or _detect_repetition(generated[r]))]
        if not still:
            break
        if len(still) < len(active):  # finished rows leave the batch and the cache
            keep = mx.array([active.index(r) for r in still])
            cache.keys = [k[keep] if k is not None else k for k in cache.keys]
            cache.values = [v[keep] if v is not None else v for v in cache.values]
            active = still
        pos = mx.array([len(prompts[r]) + len(generated[r]) - 1 for r in active])
        mask = None
        if any(pads[r] for r in active):  # keys: the cache and this step's token
            mask = (mx.arange(cache.offset + 1)[None, :] >= mx.array([pads[r] for r in active])[:, None])[:, None, None, :]
        step = model.model(inputs_embeds=model.model.embed_tokens(mx.array([[generated[r][-1]] for r in active])),
                           position_ids=mx.stack([pos[:, None]] * 3, axis=1), attention_mask=mask, cache=cache)
        for r, t in zip(active, np.array(mx.argmax(model.lm_head(step[:, -1, :]), axis=-1)).tolist()):
            generated[r].append(t)
        steps += 1
    if stats is not None:
        stats.update(prefill_s=stats.get("prefill_s", 0.0) + t1 - t0, decode_s=stats.get("decode_s", 0.0) + time.perf_counter() - t1,
                     steps=stats.get("steps", 0) + steps)
    return [_finalize_generation_result(g, GenerationConfig(max_new_tokens=b, eos_token_ids=list(eos))) for g, b in zip(generated, budgets)]


def decode_windows(model, tokenizer, windows: list[np.ndarray], budgets: list[int], language: str | None,
                   batch_size: int, dtype, context: str = "") -> list[WindowText]:
    """16 kHz windows of at most 30 s -> what the model wrote in each, `batch_size` windows at a
    time (similar lengths together: less padding). `context`: the vocabulary hint (callscribe.vocabulary)."""
    from mlx_qwen3_asr.audio import compute_features
    from mlx_qwen3_asr.tokenizer import canonicalize_language, parse_asr_output
    from mlx_qwen3_asr.transcribe import _clear_mlx_cache

    forced = canonicalize_language(language)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    out: list[WindowText | None] = [None] * len(windows)
    for s in range(0, len(order), batch_size):
        batch = order[s : s + batch_size]
        mels = [compute_features(windows[i])[0][0].astype(dtype) for i in batch]
        feats = encode(model.audio_tower, mels)
        prompts = [tokenizer.build_prompt_tokens(n_audio_tokens=int(f.shape[0]), language=forced, context=context) for f in feats]
        for i, result in zip(batch, generate(model, prompts, feats, [budgets[i] for i in batch])):
            lang, text = parse_asr_output(tokenizer.decode(result.tokens), user_language=forced)
            out[i] = WindowText(text, canonicalize_language(lang) or lang, result.finish_reason, result.tokens)
        del mels, feats
        _clear_mlx_cache()  # as the library does after each window: long runs otherwise hold freed GPU buffers
    return out


class BatchedQwenEngine(QwenEngine):
    """The mlx-qwen3-asr engine with windows decoded `transcribe.batch_size` at a time: the windows
    of all the pieces `transcribe_many` is given (one long call's, or several short calls': like
    faster-whisper's packing, but each call keeps its own windows: Qwen3-ASR pads nothing to 30 s)."""

    def __init__(self, settings: TranscribeSettings):
        if settings.draft_model:
            raise ModelError("transcribe.draft_model (speculative decoding) decodes one window at a time in mlx-qwen3-asr: "
                             "set transcribe.batch_size: 1 to use it, or draft_model: null to batch")
        super().__init__(settings)
        self.batch_size = settings.batch_size

    def transcribe(self, audio: np.ndarray, settings: TranscribeSettings, *, safer: bool = False, packed: bool = False,
                   hint: str | None = None) -> Decoded:
        return self._decode([audio], settings, safer, hint)[0]

    def transcribe_many(self, pieces: list[np.ndarray], settings: TranscribeSettings, *, safer: bool = False) -> list[Decoded]:
        return self._decode(pieces, settings, safer)

    def _decode(self, audios: list[np.ndarray], settings: TranscribeSettings, safer: bool = False,
                hint: str | None = None) -> list[Decoded]:
        """Pieces -> what QwenEngine.transcribe gives for each, their windows decoded together."""
        from mlx_qwen3_asr.chunking import split_audio_into_chunks
        from mlx_qwen3_asr.generate import resolve_max_new_tokens

        restores, windows, owners, budgets = [], [], [], []
        for k, audio in enumerate(audios):
            speech, restore = vad.speech_only(audio, vad.QWEN) if settings.vad else (audio, None)
            restores.append(restore)
            if len(speech) < SAMPLE_RATE // 10:  # nothing the model could hear
                continue
            size = SAFER_WINDOW_SECONDS if safer else WINDOW_SECONDS
            for window, offset in split_audio_into_chunks(speech, sr=SAMPLE_RATE, max_chunk_sec=size):
                seconds = len(window) / SAMPLE_RATE
                windows.append(window)
                owners.append((k, offset))
                budgets.append(math.ceil(seconds * SAFER_TOKENS_PER_SECOND) + 16 if safer
                               else resolve_max_new_tokens(None, audio_duration_sec=seconds))
        decoded = self._timed(decode_windows, self.session.model, self.session.tokenizer, windows, budgets, settings.language,
                              self.batch_size, self.session.dtype, hint or "") if windows else []
        mine: list[list] = [[] for _ in audios]
        for (owner, offset), window, d in zip(owners, windows, decoded):
            chunk = {"text": d.text, "start": 0.0, "end": len(window) / SAMPLE_RATE, "finish_reason": d.finish_reason}
            mine[owner].append((window, offset, chunk, d.language))
        return [self._decoded(w, settings, restore) for w, restore in zip(mine, restores)]
