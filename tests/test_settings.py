"""One source for each default: the settings dataclass, params.yaml and the CLI agree."""

from dataclasses import fields

import pytest
import yaml

from callscribe.engines.qwen import activation_dtype
from callscribe.settings import TranscribeSettings, param_fields
from tests.helpers import REPO


def test_dataclass_defaults_equal_params_yaml():
    params = yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"]
    defaults = TranscribeSettings()
    assert set(params) == set(param_fields())
    assert {k: getattr(defaults, k) for k in params} == params
    assert TranscribeSettings.from_params(params).hash() == TranscribeSettings().resolved().hash()


def test_cli_options_not_given_keep_the_defaults_and_given_ones_override(monkeypatch):
    from callscribe import cli

    seen = {}
    monkeypatch.setattr(cli, "cmd_transcribe", lambda args: seen.setdefault("args", args) and 0)
    cli.main(["transcribe", "x.wav", "-o", "out"])
    names = {f.name for f in fields(TranscribeSettings)}
    assert all(getattr(seen["args"], n, None) is None for n in names)  # nothing given: params.yaml's values apply
    seen.clear()
    cli.main(["transcribe", "x.wav", "-o", "out", "--no-vad", "--no-diarize", "--beam-size", "1", "--channel-names", "a, b"])
    given = {n: getattr(seen["args"], n) for n in names if getattr(seen["args"], n, None) is not None}
    assert given == {"vad": False, "diarize": False, "beam_size": 1, "channel_names": ["a", "b"]}


def test_home_is_expanded_in_model_paths():
    from callscribe.engines import local

    assert local("~/models/x").startswith("/") and local("Systran/faster-whisper-base") == "Systran/faster-whisper-base"


def test_mlx_activations_follow_the_compute_type():
    assert activation_dtype("int8_float32") == "float32"
    assert activation_dtype("int8_float16") == "float16"
    assert activation_dtype("int8") == activation_dtype("int4") == "float16"
    assert activation_dtype("bfloat16") == "bfloat16"


def test_the_hash_of_params_yaml_is_kept():
    # Journals and stores made before stay valid: a change here re-transcribes every archive (last: speakers auto, decoder VAD, issue 12).
    params = yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"]
    assert TranscribeSettings.from_params({**params, "engine": "faster-whisper"}).hash() == "5335c4ed27c7e653"


def test_engine_auto_on_a_cluster_resolves_per_engine_and_the_journal_takes_either():
    from callscribe.cli import models
    from callscribe.journal import is_done

    params = yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"]
    local = TranscribeSettings.from_params(params)
    assert local.engine_choices() == {local.engine: local} and local.hashes() == {local.hash()}  # one machine: one engine

    model = models("mlx-qwen3-asr=~/qwen")  # the CLI's --model, one per engine
    mixed = TranscribeSettings.from_params({**params, "cluster": "ray", "model": model, "aligner": "/aligner"})
    whisper, qwen = (mixed.engine_choices()[e] for e in ("faster-whisper", "mlx-qwen3-asr"))
    assert (whisper.model, whisper.aligner) == ("base", None) and (qwen.model, qwen.aligner, qwen.workers) == ("~/qwen", "/aligner", 1)
    # Each engine's calls carry the hash its settings have when that engine is named: today's for faster-whisper.
    named = TranscribeSettings.from_params
    assert whisper.hash() == named({**params, "engine": "faster-whisper"}).hash() == "5335c4ed27c7e653"
    assert qwen.hash() == named({**params, "engine": "mlx-qwen3-asr", "model": "~/qwen", "aligner": "/aligner"}).hash()
    assert mixed.hashes() == {whisper.hash(), qwen.hash()} and len(mixed.hashes()) == 2
    by_qwen = {"sha256": "a", "settings_hash": qwen.hash()}
    assert is_done(by_qwen, "a", mixed.hashes()) and not is_done(by_qwen, "b", mixed.hashes())
    assert not is_done(by_qwen, "a", named({**params, "cluster": "ray", "engine": "faster-whisper"}).hashes())  # named: done again

    # A named engine, or one model name for every node: one engine, one hash, as before.
    assert len(TranscribeSettings.from_params({**params, "cluster": "ray", "engine": "faster-whisper"}).hashes()) == 1
    assert len(TranscribeSettings.from_params({**params, "cluster": "ray", "model": "tiny.en"}).hashes()) == 1
    with pytest.raises(ValueError, match="transcribe.model is {'whisper': 'small'}: give .* one per engine"):
        TranscribeSettings.from_params({**params, "model": models("whisper=small")})
