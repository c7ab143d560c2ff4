"""One source for each default: the settings dataclass, params.yaml and the CLI agree."""

from dataclasses import fields

import yaml

from callscribe.engines.qwen import activation_dtype
from callscribe.settings import TranscribeSettings
from tests.helpers import REPO


def test_dataclass_defaults_equal_params_yaml():
    params = yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"]
    defaults = TranscribeSettings()
    assert set(params) == {f.name for f in fields(TranscribeSettings)}
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
