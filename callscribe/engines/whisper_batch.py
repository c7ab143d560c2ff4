"""Whisper's 30 s windows decoded in lock-step across streams: the pieces of one call, or of several.

Each stream (a piece) is decoded as `WhisperModel.transcribe` decodes it alone: cut to its speech by
the same VAD, with its own seek, timestamp tokens, previous-text prompt and no-speech rule
(faster-whisper's `generate_segments`, whose helpers this calls). Only each step is shared: the
streams' current windows go through one `generate`. Windows are encoded and their words aligned one by
one: on CPU a batched `encode` took 1.2x the CPU time of single ones (8 windows: 9.9 against 8.0
CPU-s), and a batched `align` (its texts padded to one length) moved words by a frame, and with them
the next window's start. CTranslate2 needs the start token at one position in a batch, so streams whose prompts differ in length go in
separate groups (prompts reach their cap of 223 tokens after a window or two, then all share one
group). A window gets the same tokens batched or alone, so the text is the sequential decoder's
(tests/test_whisper_batch.py). When a stream ends, the next piece takes its slot.
"""

from __future__ import annotations

import itertools
from inspect import signature

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import Segment, Word, get_compression_ratio, get_suppressed_tokens, restore_speech_timestamps
from faster_whisper.utils import get_end
from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

from callscribe.transcribe import release_memory

# What `WhisperModel.transcribe` does with each option when it is not given.
DEFAULTS = {k: p.default for k, p in signature(WhisperModel.transcribe).parameters.items() if p.default is not p.empty}
# Options under which the lock-step decoder is the sequential one; others (a temperature fallback,
# a prefix, hotwords...) are left to `WhisperModel.transcribe` (`supports`).
PLAIN = dict(initial_prompt=None, prefix=None, hotwords=None, hallucination_silence_threshold=None, multilingual=False,
             clip_timestamps="0", max_new_tokens=None, without_timestamps=False, task="transcribe")


def supports(options: dict) -> bool:
    """Whether these `transcribe` options decode the same in lock-step: one temperature, a known language."""
    o = {**DEFAULTS, **options}
    temperatures = o["temperature"] if isinstance(o["temperature"], (list, tuple)) else [o["temperature"]]
    return o["language"] is not None and len(temperatures) == 1 and temperatures[0] == 0 and all(o[k] == v for k, v in PLAIN.items())


class _Stream:
    """One piece being decoded: `generate_segments`' loop state, kept between steps."""

    def __init__(self, index: int, features: np.ndarray, chunks: list[dict] | None):
        self.index, self.features, self.chunks = index, features, chunks
        self.frames = features.shape[-1] - 1  # content frames, as generate_segments counts them
        self.seek, self.tokens, self.reset_since, self.last_speech = 0, [], 0, 0.0
        self.segments: list[Segment] = []


def decode(model: WhisperModel, pieces: list[np.ndarray], options: dict, batch_size: int) -> list[list[Segment]]:
    """16 kHz mono pieces -> faster-whisper's segments for each (times in the piece), as
    `model.transcribe(piece, **options)` gives them, decoded `batch_size` streams at a time.
    `options` must pass `supports`."""
    o = {**DEFAULTS, **options}
    language = o["language"] if model.model.is_multilingual else "en"
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=o["task"], language=language)
    o["suppress_tokens"] = get_suppressed_tokens(tokenizer, o["suppress_tokens"]) if o["suppress_tokens"] else o["suppress_tokens"]
    out: list[list[Segment]] = [[] for _ in pieces]
    waiting, active = iter(range(len(pieces))), []
    while True:
        for k in itertools.islice(waiting, batch_size - len(active)):  # features made as a slot opens: one piece's peak at a time
            stream = _start(model, k, pieces[k], o)
            release_memory()  # the feature extraction's scratch, handed back before the next piece's
            if stream.seek < stream.frames:
                active.append(stream)
        if not active:
            break
        groups: dict[int, list[tuple[_Stream, list[int]]]] = {}
        for s in active:
            prompt = model.get_prompt(tokenizer, s.tokens[s.reset_since:], without_timestamps=o["without_timestamps"])
            groups.setdefault(len(prompt), []).append((s, prompt))
        for group in groups.values():
            _step(model, tokenizer, o, group)
        for s in [s for s in active if s.seek >= s.frames]:
            active.remove(s)
            sr = model.feature_extractor.sampling_rate
            out[s.index] = list(restore_speech_timestamps(s.segments, s.chunks, sr)) if s.chunks else s.segments
    return out


def _start(model: WhisperModel, index: int, audio: np.ndarray, o: dict) -> _Stream:
    """A piece cut to its speech and turned into features, as `WhisperModel.transcribe` does."""
    chunks = None
    if o["vad_filter"]:
        chunks = get_speech_timestamps(audio, VadOptions(**(o["vad_parameters"] or {})))
        audio = np.concatenate(collect_chunks(audio, chunks)[0], axis=0)
    return _Stream(index, model.feature_extractor(audio, chunk_length=o["chunk_length"]), chunks)


def _step(model: WhisperModel, tokenizer: Tokenizer, o: dict, group: list[tuple[_Stream, list[int]]]) -> None:
    """One window of each stream in the group (prompts of one length): encode, generate, align, advance."""
    fe = model.feature_extractor
    sizes = [min(fe.nb_max_frames, s.frames - s.seek) for s, _ in group]
    encoded = [model.encode(pad_or_trim(s.features[:, s.seek:s.seek + n])) for (s, _), n in zip(group, sizes)]
    batch = encoded[0] if len(group) == 1 else _stacked(encoded)
    results = model.model.generate(
        batch, [p for _, p in group], beam_size=o["beam_size"], patience=o["patience"], length_penalty=o["length_penalty"],
        repetition_penalty=o["repetition_penalty"], no_repeat_ngram_size=o["no_repeat_ngram_size"], max_length=model.max_length,
        return_scores=True, return_no_speech_prob=True, suppress_blank=o["suppress_blank"], suppress_tokens=o["suppress_tokens"],
        max_initial_timestamp_index=int(round(o["max_initial_timestamp"] / model.time_precision)))
    found, logprobs = [], []  # per stream: its window's segments (dicts), or None where it is skipped as no speech
    for (s, _), n, r in zip(group, sizes, results):
        tokens = r.sequences_ids[0]
        logprobs.append(r.scores[0] * (len(tokens) ** o["length_penalty"]) / (len(tokens) + 1))  # as generate_with_fallback
        silent = o["no_speech_threshold"] is not None and r.no_speech_prob > o["no_speech_threshold"]
        if silent and not (o["log_prob_threshold"] is not None and logprobs[-1] > o["log_prob_threshold"]):
            found.append(None)
            continue
        found.append(model._split_segments_by_timestamps(tokenizer=tokenizer, tokens=tokens, time_offset=s.seek * fe.time_per_frame,
                                                         segment_size=n, segment_duration=n * fe.time_per_frame, seek=s.seek))
    for i, ((s, _), n, r, f, avg_logprob) in enumerate(zip(group, sizes, results, found, logprobs)):
        if f is None:
            s.seek += n
            continue
        current, seek, single_timestamp_ending = f
        time_offset = s.seek * fe.time_per_frame
        if o["word_timestamps"]:
            model.add_word_timestamps([current], tokenizer, encoded[i], n, o["prepend_punctuations"], o["append_punctuations"],
                                      last_speech_timestamp=s.last_speech)
            if not single_timestamp_ending:
                last_word_end = get_end(current)
                if last_word_end is not None and last_word_end > time_offset:
                    seek = round(last_word_end * model.frames_per_second)
            last_word_end = get_end(current)
            if last_word_end is not None:
                s.last_speech = last_word_end
        text = tokenizer.decode(r.sequences_ids[0]).strip()
        for seg in current:
            words = seg.get("words")
            seg_text = tokenizer.decode(seg["tokens"])
            if seg["start"] == seg["end"] or not seg_text.strip():
                continue
            s.tokens.extend(seg["tokens"])
            s.segments.append(Segment(
                id=len(s.segments) + 1, seek=s.seek, start=seg["start"], end=seg["end"], text=seg_text, tokens=seg["tokens"],
                temperature=0.0, avg_logprob=avg_logprob, compression_ratio=get_compression_ratio(text),
                no_speech_prob=r.no_speech_prob, words=[Word(**w) for w in words] if o["word_timestamps"] else None))
        if not o["condition_on_previous_text"]:
            s.reset_since = len(s.tokens)
        s.seek = seek


def _stacked(encoded: list[ctranslate2.StorageView]) -> ctranslate2.StorageView:
    """The windows' encoder outputs as one batch for `generate`."""
    host = [e if e.device == "cpu" else e.to_device(ctranslate2.Device.cpu) for e in encoded]
    return ctranslate2.StorageView.from_array(np.concatenate([np.asarray(e) for e in host]))
