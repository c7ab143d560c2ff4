"""Batched Qwen3-ASR (callscribe/engines/qwen_batch.py): the same tokens as the library's one-at-a-time path.

The reference is what mlx-qwen3-asr does for each window: `audio_tower` on its mel, then
`generate_with_info`. The batched path pads prompts and attention windows and drops finished
rows from a shared KV cache; greedy decoding must not notice. Random weights (MLX's init, an
untied head) make every window decode a different token sequence, so a mix-up shows.
"""

import glob
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

if sys.platform == "darwin" and platform.machine() != "arm64":
    pytest.skip("MLX has no build for Intel Macs", allow_module_level=True)

from callscribe.audio import load_audio, to_mono
from callscribe.calls import Job, transcribe_files
from callscribe.engines import ModelError, load_engine
from callscribe.engines.qwen import QwenEngine
from callscribe.engines.qwen_batch import BatchedQwenEngine, decode_windows
from callscribe.settings import TranscribeSettings
from scripts.make_tiny_qwen3_asr import build
from tests.helpers import REPO, find_sample

JFK, LONG_CALL = "1758662274", "1758833185"


def library_tokens(model, window: np.ndarray, prompt_of, budget: int) -> tuple[list[int], object, list[int]]:
    """One window as mlx_qwen3_asr.transcribe decodes it: (tokens, audio features, prompt)."""
    import mlx.core as mx
    from mlx_qwen3_asr.audio import compute_features
    from mlx_qwen3_asr.generate import GenerationConfig, generate_with_info

    mel, lens = compute_features(window)
    features, _ = model.audio_tower(mel.astype(model.lm_head.weight.dtype), lens)
    prompt = prompt_of(int(features.shape[1]))
    pos = mx.arange(len(prompt))[None]
    config = GenerationConfig(max_new_tokens=budget)
    return generate_with_info(model, mx.array([prompt]), features, mx.stack([pos] * 3, axis=1), config).tokens, features, prompt


def near_tie(model, features, prompt: list[int], prefix: list[int], a: int, b: int, tol: float = 5e-3) -> bool:
    """Whether tokens a and b both score within `tol` of the best next token after prompt + prefix.
    Random weights leave near-ties (top two logits 1e-3 apart) which float rounding decides either
    way: the library's own cached and uncached forward passes disagree on them too."""
    import mlx.core as mx

    ids = mx.array([prompt + prefix])
    pos = mx.arange(ids.shape[1])[None]
    embeds = model._inject_audio_features(model._embed_tokens(ids), features, ids == model.audio_token_id)
    logits = model.lm_head(model.model(inputs_embeds=embeds, position_ids=mx.stack([pos] * 3, axis=1))[0, -1])
    best = float(logits.max())
    return min(float(logits[a]), float(logits[b])) >= best - tol * max(1.0, abs(best))


def assert_same_tokens(folder, windows, budgets, batch_size, dtype):
    import mlx.core as mx
    from mlx_qwen3_asr import Session

    session = Session(str(folder), dtype=getattr(mx, dtype))
    batched = decode_windows(session.model, session.tokenizer, windows, budgets, "en", batch_size, session.dtype)

    def prompt_of(n: int) -> list[int]:
        return session.tokenizer.build_prompt_tokens(n_audio_tokens=n, language="English")

    ties = 0
    for window, budget, got in zip(windows, budgets, batched):
        want, features, prompt = library_tokens(session.model, window, prompt_of, budget)
        if got.tokens != want:  # only a near-tie may part them, and then that window is done
            at = next(i for i, (x, y) in enumerate(zip(got.tokens + [-1], want + [-2])) if x != y)
            assert at < min(len(got.tokens), len(want)), (got.tokens, want)
            assert near_tie(session.model, features, prompt, want[:at], got.tokens[at], want[at]), (at, got.tokens, want)
            ties += 1
    # At most one window in four (rounded up: with 3 windows, one) parts at a near-tie, each checked to be one above.
    assert ties <= -(-len(windows) // 4), f"{ties} of {len(windows)} windows parted at near-ties"
    assert len({tuple(d.tokens) for d in batched}) == len(windows)  # every window its own sequence
    return batched


def speech_windows(sample_audio, seconds: list[float]) -> list[np.ndarray]:
    """Windows of these lengths cut from a real call, each from its own place."""
    audio = to_mono(load_audio(find_sample(sample_audio, LONG_CALL)))
    starts = np.cumsum([0] + seconds[:-1])
    return [audio[int(s * 16000) : int((s + d) * 16000)] for s, d in zip(starts, seconds)]


def test_batched_decoding_gives_the_library_tokens(sample_audio, tmp_path):
    # Lengths: under one conv chunk (0.7 s), partial and whole 8 s attention windows, a full 30 s window;
    # budgets differ, so rows leave the batch at different steps (budget, repetition).
    windows = speech_windows(sample_audio, [0.7, 3.3, 8.0, 12.9, 30.0, 21.4, 5.5])
    budgets = [12, 30, 25, 40, 18, 33, 22]
    batched = assert_same_tokens(build(tmp_path / "plain", plain=True), windows, budgets, batch_size=4, dtype="float32")
    assert {d.finish_reason for d in batched} == {"length", "repetition"}


@pytest.mark.slow
def test_batched_decoding_gives_the_library_tokens_at_the_real_size(sample_audio, tmp_path):
    # The real Qwen3-ASR-0.6B shape (0.9 B random weights, 1.8 GB in tmp): padding, masks and the shared
    # cache at the real head count, depth and width. Short windows and budgets keep it to minutes on a CPU.
    openblas = sorted(glob.glob("/usr/lib/*/libopenblas.so.0"))
    if openblas and "openblas" not in os.environ.get("LD_PRELOAD", ""):
        # MLX's CPU wheel multiplies on reference BLAS (~1 GFLOP/s): run this test again with Debian's OpenBLAS.
        test = f"{__file__}::test_batched_decoding_gives_the_library_tokens_at_the_real_size"
        env = {**os.environ, "LD_PRELOAD": openblas[0], "PYTHONPATH": str(REPO)}
        run = subprocess.run([sys.executable, "-m", "pytest", test, "-q", "-m", "slow", "-p", "no:cacheprovider"],
                             env=env, capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        return
    windows = speech_windows(sample_audio, [1.6, 4.1, 2.7])
    assert_same_tokens(build(tmp_path / "real", size="0.6b"), windows, [6, 9, 7], batch_size=3, dtype="float32")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("qwen-batch")
    return {"model": build(root / "model"), "aligner": build(root / "aligner", aligner=True, seed=1)}


def settings_for(chain, batch_size, **kw):
    kw = {"compute_type": "float16", "aligner": str(chain["aligner"]), **kw}
    return TranscribeSettings(engine="mlx-qwen3-asr", model=str(chain["model"]), batch_size=batch_size, **kw).resolved()


@pytest.mark.slow
def test_batch_size_picks_the_engine_and_keeps_the_results(chain, sample_audio):
    one, many = load_engine(settings_for(chain, 1)), load_engine(settings_for(chain, 8))
    assert type(one) is QwenEngine and type(many) is BatchedQwenEngine
    assert settings_for(chain, 1).hash() == settings_for(chain, 8).hash()  # the same transcripts: nothing to redo
    for name, seconds in ((JFK, None), (LONG_CALL, 70)):  # one window; three windows in one batch (seven when safer)
        audio = to_mono(load_audio(find_sample(sample_audio, name)))[: seconds and seconds * 16000]
        for safer in (False, True):  # 30 s windows; the retry's 10 s windows and tighter budget
            settings = settings_for(chain, 1)
            assert many.transcribe(audio, settings, safer=safer) == one.transcribe(audio, settings, safer=safer)
    assert many.model_seconds > 0


@pytest.mark.slow
def test_short_calls_decode_together_and_return_to_their_calls(chain, sample_audio, monkeypatch):
    # Several calls in one worker task: their windows go through one batched decode, and each
    # call gets back what decoding it alone gives.
    names = ["1757258616", "1757343041", "1757776432", "1757252904", JFK]  # silent, three short calls, jfk
    jobs = [Job(n, str(find_sample(sample_audio, n)), n, 10.0) for n in names]
    engine = load_engine(settings_for(chain, 8))
    decodes = []
    real = BatchedQwenEngine.transcribe_many
    monkeypatch.setattr(BatchedQwenEngine, "transcribe_many",
                        lambda self, audios, *a, **k: decodes.append(len(audios)) or real(self, audios, *a, **k))
    together = transcribe_files(engine, jobs, settings_for(chain, 8))
    alone = [transcribe_files(load_engine(settings_for(chain, 1)), [job], settings_for(chain, 1))[0] for job in jobs]
    assert decodes and decodes[0] == len(jobs) and sum(decodes) == len(jobs)  # no call decoded twice
    for (record, transcript), (record1, transcript1) in zip(together, alone):
        assert record.status == record1.status and (transcript and transcript.to_dict()) == (transcript1 and transcript1.to_dict())
    assert any(t and t.text for _, t in together)


def test_draft_model_needs_batch_size_one(chain):
    with pytest.raises(ModelError, match="batch_size: 1"):
        load_engine(settings_for(chain, 8, draft_model=str(chain["model"])))
    engine = load_engine(settings_for(chain, 1, draft_model=str(chain["model"]), timestamps=False))
    assert engine.draft is not None and engine.versions["draft_model"] == str(chain["model"])
