"""params.yaml against its schema: every key declared with params.yaml's value as its default, and a
wrong value or an unknown key refused in one line, before any stage does work."""

import dataclasses
import subprocess
import sys

import pytest
import yaml
from pydantic import BaseModel

from callscribe import params
from callscribe.settings import TranscribeSettings
from tests.helpers import REPO

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def test_every_key_of_params_yaml_is_declared_and_every_default_equals_it():
    assert set(PARAMS) == set(params.SECTIONS)
    for section, given in PARAMS.items():
        cls = params.schema(section)
        if not params.keys(cls):  # shards: names of the user's choosing, each checked as a range
            params.check_section(section, cls, given)
            continue
        assert set(given) == set(params.keys(cls)), section
        assert params.defaults(cls) == given, section
    assert params.read(REPO / "params.yaml") == PARAMS


def test_a_section_left_out_gets_the_schema_defaults():
    filled = params.check({"shards": PARAMS["shards"]})
    assert filled == PARAMS


@pytest.mark.parametrize("section, key, value, allowed", [
    ("transcribe", "beam_size", "two", "give a whole number"),
    ("transcribe", "beam_size", 0, "give a number of at least 1"),
    ("transcribe", "beam_size", "2", "give a whole number"),  # quoted: refused, not guessed
    ("transcribe", "engine", "whisper", "give 'auto', 'faster-whisper' or 'mlx-qwen3-asr'"),
    ("transcribe", "vad", "yes", "give true or false"),
    ("transcribe", "speakers", 0, "give auto, or a whole number of speakers (1 or more)"),
    ("transcribe", "cluster", "rai", "give local, ray or ray://HOST:PORT"),
    ("transcribe", "model", {"whisper": "small"}, "one per engine"),
    ("transcribe", "pack_seconds", 45, "give a number below 30"),
    ("filter", "start", "2025-9-1", "give a quoted date 'YYYY-MM-DD', or '' for no limit"),
    ("filter", "min_seconds", -1, "give a number of at least 0"),
    ("redact", "kinds", ["card", "sn"], "give all, or a list of some of card, ssn, dob"),
    ("redact", "mask", "##", "give label, or one character"),
    ("redact", "audio_mode", "beep", "give 'bleep' or 'silence'"),
    ("redact", "phone_regions", ["USA"], "give a list of region codes"),
    ("merge", "formats", ["json", "docx"], "give a list of formats from json, txt, srt, vtt, rttm"),
    ("extract", "max_ratio", "high", "give a number"),
    ("profile", "workers", -2, "give a whole number of processes"),
    ("evaluate", "labels", 3, "give text"),
])
def test_a_wrong_value_is_refused_in_one_line_naming_the_key_the_value_and_what_is_allowed(section, key, value, allowed):
    with pytest.raises(params.ParamsError) as e:
        params.check({**PARAMS, section: {**PARAMS[section], key: value}})
    line = str(e.value)
    assert "\n" not in line and line.startswith(f"params.yaml: {section}.{key} is {value!r}: ") and allowed in line, line


def test_a_shard_out_of_order_or_an_unknown_key_or_section_is_named():
    bad = {**PARAMS, "shards": {**PARAMS["shards"], "2025-10": {"start": "2025-10-31", "end": "2025-10-01"}}}
    with pytest.raises(params.ParamsError, match=r"^params.yaml: shards.2025-10 is .*: give a range that ends on or after its start$"):
        params.check(bad)
    with pytest.raises(params.ParamsError, match=r"^params.yaml: transcribe.beem_size is not known: did you mean `beam_size`\?$"):
        params.check({**PARAMS, "transcribe": {**PARAMS["transcribe"], "beem_size": 2}})
    with pytest.raises(params.ParamsError, match=r"^params.yaml: section tarnscribe is not known: did you mean `transcribe`\?$"):
        params.check({**PARAMS, "tarnscribe": {}})


def test_a_new_section_is_one_line_in_the_registry(monkeypatch):
    class InsightsParams(BaseModel):
        window: int = 30

    monkeypatch.setitem(sys.modules, "callscribe_test_insights", type(sys)("callscribe_test_insights"))
    sys.modules["callscribe_test_insights"].InsightsParams = InsightsParams
    monkeypatch.setitem(params.SECTIONS, "insights", "callscribe_test_insights:InsightsParams")
    assert params.check(PARAMS)["insights"] == {"window": 30}
    with pytest.raises(params.ParamsError, match=r"insights.windw is not known: did you mean `window`\?"):
        params.check({**PARAMS, "insights": {"windw": 3}})


def test_the_cluster_resolution_is_a_field_that_copies_keep():
    mixed = TranscribeSettings.from_params({**PARAMS["transcribe"], "cluster": "ray"})
    copied = dataclasses.replace(mixed, device="cpu")
    assert set(copied.engine_choices()) == {"faster-whisper", "mlx-qwen3-asr"} == set(mixed.engine_choices())
    assert dataclasses.asdict(mixed)["unresolved"]["engine"] == "auto"
    assert copied.hash() == mixed.hash()  # not a param: outside the hash
    assert TranscribeSettings.from_params(PARAMS["transcribe"]).unresolved is None  # one machine: nothing to keep


@pytest.mark.slow  # a subprocess per stage
@pytest.mark.parametrize("stage", sorted(p.name for p in (REPO / "stages").glob("*.py")))
def test_every_stage_checks_params_yaml_before_any_work(stage, tmp_path):
    text = (REPO / "params.yaml").read_text().replace("  beam_size: 2 ", "  beam_size: two ")
    (tmp_path / "params.yaml").write_text(text)
    out = subprocess.run([sys.executable, str(REPO / "stages" / stage), "2025-09a"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0 and "params.yaml: transcribe.beam_size is 'two': give a whole number" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written
