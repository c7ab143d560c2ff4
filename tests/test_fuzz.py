"""Property-based fuzzing of every input path: damaged WAVs through the profile stage and the CLI,
damaged zips through extract. Seeded (derandomize) with fixed example counts, so CI is bounded and
repeatable: 220 damaged WAVs through profile and 50 damaged zips through extract (fast tier, ~15 s),
two CLI runs over 40 damaged files each (slow tier). `CALLSCRIBE_FUZZ_SCALE=10` multiplies every count
for a longer hunt.

Whatever the damage: nothing raises, every file gets exactly one row or record, what profile calls
readable decodes and what it refuses is refused by the transcriber too, an unknown codec is named,
and the good files beside the damaged ones are transcribed exactly as in a clean run."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from callscribe.archive import ArchiveError, extract
from callscribe.audio import SUPPORTED_TAGS, AudioError, load_audio, wav_format_tag
from callscribe.profile import find_audio, profile_file
from tests.helpers import find_sample
from tests.mutations import damage, damage_zip, damaged_wav, make_bases, make_zip, zip_mutation

SCALE = int(os.environ.get("CALLSCRIBE_FUZZ_SCALE", "1"))
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
GOOD = {"jfk": "1758662274", "long": "1757258616"}  # 11 s and 15 s: longer than pack_seconds, so never packed with a damaged file


@pytest.fixture(scope="module")
def bases(sample_audio, tmp_path_factory) -> dict[str, bytes]:
    return make_bases(tmp_path_factory.mktemp("bases"), sample_audio)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_profile(path: Path, root: Path) -> dict:
    """The profile stage's row for one file, and the promises it makes to the transcriber."""
    row = profile_file(path, root)
    assert row["path"] == path.as_posix() and isinstance(row["readable"], bool)
    tag = wav_format_tag(path)
    if tag is not None and tag not in SUPPORTED_TAGS:
        assert not row["readable"] and f"unknown codec 0x{tag:04x}" in row["error"] and "ffmpeg" in row["error"], row
    if row["readable"]:
        assert 2000 <= row["sample_rate"] <= 768000 and row["channels"] >= 1 and math.isfinite(row["duration"]) and row["duration"] >= 0
        audio = load_audio(path)  # what a worker gets: it decodes, finite, the length profile said
        assert audio.dtype == np.float32 and audio.shape[0] == row["channels"] and np.isfinite(audio).all()
        assert abs(audio.shape[1] / 16000 - row["duration"]) < 0.05 + 0.01 * row["duration"]
    else:
        assert row["error"] and row["duration"] == 0.0
        with pytest.raises(AudioError):  # refused in profile: refused alike by a worker, with a reason
            load_audio(path)
    return row


@settings(FUZZ, max_examples=220 * SCALE)
@given(case=damaged_wav)
# Cases that once failed (tests/fuzz_regressions/README.md): the unknown tag that crashed the PyAV fallback, ...
@example(case=("pcm16.wav", [("field", "tag", 0x1234)]))
@example(case=("pcm8.wav", [("field", "bits", 0)]))
@example(case=("msadpcm.wav", [("field", "channels", 640), ("bytes", 0.45344369061298095, b"\x9cQ`nj\xe6%\xb75\xd2")]))
@example(case=("gsm.wav", [("field", "tag", 0x0133)]))
@example(case=("pcm16.wav", [("field", "rate", 1)]))
@example(case=("float stereo.wav", [("bytes", 0.5, b"\xff" * 64)]))
@example(case=("wavex.wav", [("field", "fmt_extra", 0)]))
def test_profile_gives_every_damaged_wav_one_true_row(case, bases, scratch):
    path = scratch / "audio" / "q-300-+13365550100-20250905-101500-1757067300.1.WAV"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(damage(bases, case))
    check_profile(path, scratch)


REGRESSIONS = sorted((Path(__file__).parent / "fuzz_regressions").glob("*.wav"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression_files_profile(path, tmp_path):
    shutil.copy(path, tmp_path / path.name)
    assert not check_profile(tmp_path / path.name, tmp_path)["readable"]


@settings(FUZZ, max_examples=50 * SCALE)
@given(mutations=st.lists(zip_mutation, min_size=1, max_size=3))
# Once failed: an encrypted flag (RuntimeError) and an unknown method (NotImplementedError) stopped extract.
@example(mutations=[("central", 0, "method", 99)])
@example(mutations=[("central", 0, "flags", 1)])
def test_extract_and_profile_survive_damaged_zips(mutations, bases, scratch):
    z = scratch / "export.zip"
    z.write_bytes(damage_zip(make_zip(bases), mutations))
    out = scratch / "unpacked"
    shutil.rmtree(out, ignore_errors=True)
    try:
        reports = extract([z], out)
    except ArchiveError as e:  # the whole archive refused, with a message naming it
        assert str(z) in str(e)
        return
    for name, why in reports[0].skipped:
        assert why, name
    assert not list(out.rglob(".*.part"))  # no half-written member left behind
    for path in find_audio(out):
        check_profile(path, out)


# --- the CLI on folders of damaged files -------------------------------------------------------

def run_cli(folder: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callscribe.cli", "transcribe", str(folder), "-o", str(out), "--manifest",
                           "--formats", "json", "--workers", "2"], capture_output=True, text=True, timeout=900)


def add_good_files(folder: Path, sample_audio: Path) -> None:
    for name, key in GOOD.items():
        shutil.copy(find_sample(sample_audio, key), folder / f"good {name}.WAV")


def read_manifest(out: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len({r["id"] for r in rows})
    return {r["id"]: r for r in rows}


def check_run(done: subprocess.CompletedProcess, folder: Path, out: Path, clean: dict[str, str]) -> dict[str, dict]:
    """Exit 0 or 1 and no traceback; one record per input; the good files' text as in a clean run."""
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    inputs = {p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*") if p.is_file()}
    rows = read_manifest(out)
    assert set(rows) == inputs
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(e["id"] for e in journal) == sorted(inputs)  # each file once
    for row in rows.values():
        assert row["status"] in ("ok", "no_speech", "error"), row
        if row["status"] == "error":
            assert row["path"] in row["reason"] and f"error: {row['reason']}" in done.stderr, row
    assert done.returncode == (1 if any(r["status"] == "error" for r in rows.values()) else 0)
    for name, text in clean.items():
        assert rows[f"good {name}"]["text"] == text, name
    return rows


@pytest.fixture(scope="module")
def clean(sample_audio, tmp_path_factory) -> dict[str, str]:
    """The good files' transcripts from a run with nothing damaged beside them."""
    folder = tmp_path_factory.mktemp("clean")
    add_good_files(folder, sample_audio)
    out = folder.parent / (folder.name + "-out")
    done = run_cli(folder, out)
    assert done.returncode == 0, done.stderr
    rows = read_manifest(out)
    assert "what your country can do for you" in rows["good jfk"]["text"].lower()
    return {name: rows[f"good {name}"]["text"] for name in GOOD}


def cli_fuzz(runs: int, files: int):
    def decorate(fn):
        return settings(FUZZ, max_examples=runs, phases=[Phase.explicit, Phase.generate])(  # no shrinking: each example is a run
            given(cases=st.lists(damaged_wav, min_size=files, max_size=files))(fn))
    return decorate


@pytest.mark.slow  # two CLI runs over 42 files each: about 1-3 minutes
@cli_fuzz(runs=2 * SCALE, files=40)
def test_cli_on_folders_of_damaged_files(cases, bases, clean, sample_audio, tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    for i, case in enumerate(cases):
        (folder / f"damaged {i:02d}.wav").write_bytes(damage(bases, case))
    add_good_files(folder, sample_audio)
    check_run(run_cli(folder, folder.parent / (folder.name + "-out")), folder, folder.parent / (folder.name + "-out"), clean)


# --- the scenario: a folder of 22 malformed files ---------------------------------------

MALFORMED = {
    "unknown codec 0x1234": ("pcm16.wav", [("field", "tag", 0x1234)]),
    "G.729": ("gsm.wav", [("field", "tag", 0x0133)]),
    "MP3 in a WAV": ("pcm16.wav", [("field", "tag", 0x0055)]),
    "cut after the RIFF header": ("gsm.wav", [("truncate", 0, 0)]),
    "cut inside the fmt header": ("gsm.wav", [("truncate", 0, 4)]),
    "cut mid fmt": ("pcm16.wav", [("truncate", 0, "mid")]),
    "cut at the data header": ("pcm16.wav", [("truncate", 1, 0)]),
    "cut mid data": ("ima.wav", [("truncate", 2, "mid")]),
    "zero channels": ("pcm16.wav", [("field", "channels", 0)]),
    "65535 channels": ("ulaw.wav", [("field", "channels", 0xFFFF)]),
    "rate 0": ("pcm16.wav", [("field", "rate", 0)]),
    "rate 1 Hz": ("pcm16.wav", [("field", "rate", 1)]),
    "rate 4 GHz": ("gsm.wav", [("field", "rate", 0xFFFFFFFF)]),
    "block align 0": ("ima.wav", [("field", "block_align", 0)]),
    "block align 65535": ("msadpcm.wav", [("field", "block_align", 0xFFFF)]),
    "0 bits per sample": ("pcm16.wav", [("field", "bits", 0)]),
    "data size 4 GB": ("pcm16.wav", [("huge", "data", 0xFFFFFFFF)]),
    "fmt size 4 GB": ("gsm.wav", [("huge", "fmt ", 0xFFFFFFF0)]),
    "zero-length data": ("gsm.wav", [("zero_data", True)]),
    "data before fmt": ("pcm16.wav", [("reorder", (1, 0))]),
    "NaN in float": ("float stereo.wav", [("bytes", 0.5, b"\xff" * 64)]),
    "random bytes": ("pcm16.wav", [("noise", bytes(range(256)) * 2)]),
}


@pytest.mark.slow  # one CLI run over 27 files: about a minute
def test_a_folder_of_22_malformed_files_gives_one_record_each_and_exit_1(bases, clean, sample_audio, tmp_path):
    folder = tmp_path / "malformed"
    folder.mkdir()
    for name, case in MALFORMED.items():
        (folder / f"{name}.wav").write_bytes(damage(bases, case))
    for f in REGRESSIONS:
        shutil.copy(f, folder / f"regression {f.name}")
    add_good_files(folder, sample_audio)
    done = run_cli(folder, tmp_path / "out")
    rows = check_run(done, folder, tmp_path / "out", clean)
    assert done.returncode == 1
    for name, tag in [("unknown codec 0x1234", "0x1234"), ("G.729", "0x0133 (G.729)"), ("MP3 in a WAV", "0x0055 (MP3)")]:
        assert rows[name]["status"] == "error" and f"unknown codec {tag}" in rows[name]["reason"], rows[name]
        assert "convert it with ffmpeg" in rows[name]["reason"].lower()
    assert rows["rate 1 Hz"]["status"] == "error" and "1 Hz" in rows["rate 1 Hz"]["reason"]
    assert rows["cut mid data"]["status"] == "ok"  # the part that is there
