"""The mlx-qwen3-asr engine, running the library's real code path on tiny random-weight models.

The tiny models (scripts/make_tiny_qwen3_asr.py) write nonsense, so these tests check structure
and behaviour: load, VAD, windows, word times from the forced aligner, quantization, runaway
detection and retry, records, resume, and the DVC pipeline. `test_real_weights_wer` checks
accuracy, when CALLSCRIBE_QWEN3_ASR names a folder with real Qwen3-ASR weights.
"""

import json
import os
import platform
import sys

import pytest
import yaml

if sys.platform == "darwin" and platform.machine() != "arm64":
    pytest.skip("MLX has no build for Intel Macs", allow_module_level=True)

from callscribe.audio import load_audio
from callscribe.calls import Job
from callscribe.engines import DEFAULT_ALIGNER, ModelError, load_engine, resolve_engine
from callscribe.evaluate import score
from callscribe.fileio import read_jsonl
from callscribe.runner import run
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import transcribe_audio
from scripts.make_tiny_qwen3_asr import build
from tests.helpers import copy_project, dvc, find_sample, journal_ids, ran

JFK, SILENT, LONG_CALL = "1758662274", "1757258616", "1758833185"

pytestmark = pytest.mark.slow  # every test here runs a model or the whole pipeline


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("qwen")
    return {"model": build(root / "model"), "loop": build(root / "loop", loop=True),
            "aligner": build(root / "aligner", aligner=True, seed=1)}


def qwen_settings(tiny, model="model", **kw):
    # float16: MLX's CPU backend runs quantized matmuls slowly; quantization has its own test.
    kw = {"compute_type": "float16", "aligner": str(tiny["aligner"]), **kw}
    return TranscribeSettings(engine="mlx-qwen3-asr", model=str(tiny[model]), **kw).resolved()


def assert_well_formed(transcript, duration):
    last = 0.0
    for seg in transcript.segments:
        assert 0 <= seg.start <= seg.end <= duration + 0.01 and seg.start >= last - 0.01 and seg.text
        last = seg.start
        for w in seg.words or []:
            assert seg.start <= w.start <= w.end <= seg.end and w.word.startswith(" ")


def test_settings_pick_engine_model_and_one_worker(monkeypatch):
    assert resolve_engine("auto") == ("mlx-qwen3-asr" if sys.platform == "darwin" else "faster-whisper")
    monkeypatch.setattr("callscribe.engines.specs.is_apple_silicon", lambda: True)
    s = TranscribeSettings(workers=8).resolved()
    assert (s.engine, s.model, s.aligner, s.workers) == ("mlx-qwen3-asr", "Qwen/Qwen3-ASR-0.6B", DEFAULT_ALIGNER, 1)
    assert TranscribeSettings(timestamps=False).resolved().aligner is None
    monkeypatch.setattr("callscribe.engines.specs.is_apple_silicon", lambda: False)
    assert TranscribeSettings().resolved().engine == "faster-whisper"


def test_transcribes_calls_with_word_times_and_skips_silence(tiny, sample_audio):
    settings = qwen_settings(tiny)
    engine = load_engine(settings)
    assert engine.name == "mlx-qwen3-asr" and engine.model == str(tiny["model"])
    assert engine.versions["mlx-qwen3-asr"] and engine.versions["quantization"] == "none"
    assert engine.versions["aligner"] == str(tiny["aligner"])

    audio = load_audio(find_sample(sample_audio, JFK))
    transcript, warnings = transcribe_audio(engine, audio, settings)
    assert transcript.text and transcript.language == "en" and not warnings
    assert_well_formed(transcript, transcript.duration)
    assert all(seg.words for seg in transcript.segments)

    silent, warnings = transcribe_audio(engine, load_audio(find_sample(sample_audio, SILENT)), settings)
    assert silent.text == "" and silent.segments == [] and not warnings  # VAD: the model never hears it


def test_long_call_windows_keep_call_times(tiny, sample_audio):
    settings = qwen_settings(tiny, timestamps=False, max_chunk_minutes=2)
    audio = load_audio(find_sample(sample_audio, LONG_CALL))
    transcript, warnings = transcribe_audio(load_engine(settings), audio, settings)
    # The pipeline cuts 300 s into three pieces, the library each into ~30 s windows: one segment each.
    # (The tiny model writes the same five words in every window, which the pipeline rightly calls a loop.)
    assert len(transcript.segments) >= 10 and transcript.segments[-1].end > 250
    assert all(seg.words is None for seg in transcript.segments)
    assert_well_formed(transcript, transcript.duration)


def test_detects_language_when_not_given(tiny, sample_audio):
    settings = qwen_settings(tiny, language=None, timestamps=False)
    transcript, _ = transcribe_audio(load_engine(settings), load_audio(find_sample(sample_audio, JFK)), settings)
    assert transcript.language == "en"  # the tiny model writes "language English<asr_text>..."


def test_runaway_decoding_is_flagged_and_retried(tiny, sample_audio):
    settings = qwen_settings(tiny, model="loop", batch_size=1)  # one window at a time: the spy below sees each
    engine = load_engine(settings)
    calls = []
    real = engine.session.transcribe
    engine.session.transcribe = lambda audio, **kw: calls.append((len(audio), kw["max_new_tokens"])) or real(audio, **kw)
    transcript, warnings = transcribe_audio(engine, load_audio(find_sample(sample_audio, JFK)), settings)
    assert len(warnings) == 1 and "decoder stopped" in warnings[0] and "retried with safer decoding" in warnings[0]
    (first, budget), *retries = calls
    assert budget is None and retries and all(n <= 10 * 16000 + 1 and b <= 10 * 8 + 16 for n, b in retries)
    assert_well_formed(transcript, transcript.duration)


@pytest.mark.parametrize("compute_type, expected", [("int8", "8-bit decoder, 8-bit encoder"), ("int4", "4-bit decoder, 8-bit encoder"),
                                                    ("int8_float32", "8-bit decoder, 8-bit encoder")])
def test_quantized_in_memory(tiny, sample_audio, compute_type, expected):
    import mlx.nn as nn

    settings = qwen_settings(tiny, compute_type=compute_type, timestamps=False)
    engine = load_engine(settings)
    assert engine.versions["quantization"].startswith(expected)
    assert engine.versions["dtype"] == ("float32" if compute_type.endswith("float32") else "float16")  # activations
    assert isinstance(engine.session.model.lm_head, nn.QuantizedLinear)
    transcript, _ = transcribe_audio(engine, load_audio(find_sample(sample_audio, JFK)), settings)
    assert transcript.text


def test_loads_a_prequantized_folder_as_it_is(tiny, sample_audio, tmp_path):
    import mlx.core as mx
    import mlx.utils
    from mlx_qwen3_asr import load_model
    from mlx_qwen3_asr.convert import quantize_model

    # What the library's convert script writes: quantized weights beside the same config and tokenizer.
    model, _ = load_model(str(tiny["model"]))
    quantize_model(model, bits=4, group_size=64, encoder_bits=8)
    folder = tmp_path / "q4"
    folder.mkdir()
    for f in ("config.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        (folder / f).write_bytes((tiny["model"] / f).read_bytes())
    mx.save_safetensors(str(folder / "model.safetensors"), dict(mlx.utils.tree_flatten(model.parameters())))

    settings = TranscribeSettings(engine="mlx-qwen3-asr", model=str(folder), compute_type="int8", timestamps=False).resolved()
    engine = load_engine(settings)
    assert engine.versions["quantization"] == "from the checkpoint"
    transcript, _ = transcribe_audio(engine, load_audio(find_sample(sample_audio, JFK)), settings)
    assert transcript.text


def test_unusable_settings_fail_with_the_fix(tiny, tmp_path):
    # An empty folder is no model; as a hub id it is invalid, so nothing goes to the network.
    with pytest.raises(ModelError, match="transcribe.aligner"):
        load_engine(qwen_settings(tiny, aligner=str(tmp_path)))
    with pytest.raises(ModelError, match="transcribe.model"):
        load_engine(TranscribeSettings(engine="mlx-qwen3-asr", model=str(tmp_path)).resolved())
    with pytest.raises(ModelError, match="int4"):
        load_engine(qwen_settings(tiny, compute_type="int16"))


def test_records_journal_and_resume(tiny, sample_audio, tmp_path):
    jobs = [Job(key, str(find_sample(sample_audio, key)), key * 4, 10.0) for key in (JFK, SILENT)]
    settings = qwen_settings(tiny)
    first = run(jobs, tmp_path, settings, formats=("json", "srt"), progress=False)
    assert first.counts == {"ok": 1, "no_speech": 1}
    entries = {e["id"]: e for e in read_jsonl(tmp_path / "journal.jsonl")}
    for e in entries.values():
        assert e["engine"] == "mlx-qwen3-asr" and e["model"] == str(tiny["model"])
        assert {"callscribe", "mlx-qwen3-asr", "mlx", "quantization"} <= set(e["versions"])
    assert entries[JFK]["model_seconds"] > 0  # the time in the model is counted, not left at 0
    data = json.loads((tmp_path / f"{JFK}.json").read_text())
    assert data["language"] == "en" and data["segments"][0]["words"][0]["word"].strip()
    assert (tmp_path / f"{JFK}.srt").read_text().startswith("1\n")

    again = run(jobs, tmp_path, settings, progress=False)
    assert again.skipped == 2 and not again.counts
    changed = run(jobs, tmp_path, qwen_settings(tiny, timestamps=False), progress=False)
    assert changed.skipped == 0 and sum(changed.counts.values()) == 2


def test_dvc_repro_with_the_tiny_model(tiny, tmp_path):
    project = copy_project(tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["transcribe"].update(engine="mlx-qwen3-asr", model=str(tiny["model"]), aligner=str(tiny["aligner"]), compute_type="float16")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(project, "repro")
    assert {"transcribe@2025-09a", "transcribe@2025-09b", "merge", "evaluate"} <= ran(out)
    assert "mlx-qwen3-asr" in out  # the stage names the engine it runs
    calls = read_jsonl(project / "data/output/calls.jsonl")
    assert len(calls) == 29 and {c["status"] for c in calls} == {"ok", "no_speech", "filtered"}
    assert len(journal_ids(project)) == len(set(journal_ids(project))) == 27
    for journal in (project / "data/transcripts").glob("*/journal.jsonl"):
        assert {e["engine"] for e in read_jsonl(journal)} == {"mlx-qwen3-asr"}
    assert ran(dvc(project, "repro")) == set()


@pytest.mark.skipif(not os.environ.get("CALLSCRIBE_QWEN3_ASR"), reason="set CALLSCRIBE_QWEN3_ASR to a Qwen3-ASR model folder or hub id")
def test_real_weights_wer(sample_audio, labels):
    # CALLSCRIBE_QWEN3_ALIGNER may name the aligner's folder; without it, segment times only.
    aligner = os.environ.get("CALLSCRIBE_QWEN3_ALIGNER")
    settings = TranscribeSettings(engine="mlx-qwen3-asr", model=os.environ["CALLSCRIBE_QWEN3_ASR"], aligner=aligner,
                                  timestamps=bool(aligner)).resolved()
    engine = load_engine(settings)
    pairs = []
    for (archive, name), label in labels.items():
        if label["text"]:
            transcript, _ = transcribe_audio(engine, load_audio(find_sample(sample_audio, name)), settings)
            pairs.append((name, label["text"], transcript.text))
    metrics, _ = score(pairs)
    assert metrics["wer"] < 0.10, metrics
