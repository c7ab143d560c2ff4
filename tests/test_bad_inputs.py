"""Broken, empty and odd files, through `callscribe transcribe` and through the DVC pipeline:
each gets one clear record, the run goes on, and silence or tones never turn into words."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from rapidfuzz import fuzz

from callscribe.fileio import read_jsonl
from tests.badfiles import JFK, make_bad_files
from tests.helpers import copy_project, dvc_env, find_sample

pytestmark = pytest.mark.slow  # every test here runs a model or the whole pipeline

SAME_NAME = "q-300-+13365550100-20250905-101500-1757067300.1.WAV"  # in both archives, different audio


def says(text: str, words: str) -> bool:
    """The expected words are in the text, give or take a letter or two: exact decoded text differs between
    CPUs ("my fellow Americans" on one, "my fellow America asked" on another)."""
    return fuzz.partial_ratio(words, text.lower()) >= 85


def test_bad_files_through_the_cli(sample_audio, tmp_path):
    a, b = tmp_path / "calls", tmp_path / "more calls"
    expected = make_bad_files(a, sample_audio)
    (a / "__MACOSX").mkdir()
    shutil.copy(a / "mulaw 8k.wav", a / "__MACOSX" / "._mulaw 8k.wav")
    (a / "._alaw 8k.wav").write_bytes(b"\0\5\26\7" + b"\0" * 80)  # AppleDouble resource fork
    b.mkdir()
    shutil.copy(find_sample(sample_audio, "1758821279"), b / "mulaw 8k.wav")  # same name, another call
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "callscribe.cli", "transcribe", str(a), str(b), "-o", str(out), "--manifest",
                           "--formats", "json,txt,srt,vtt", "--workers", "2"], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # two files failed; every other one is written
    assert "Traceback" not in done.stderr

    rows = {r["id"]: r for r in read_jsonl(out / "manifest.jsonl")}
    assert set(rows) == {Path(n).with_suffix("").as_posix() for n in expected} | {"more calls/mulaw 8k"}
    for name, (status, _, words) in expected.items():
        row = rows[Path(name).with_suffix("").as_posix()]
        assert row["status"] == status, (name, row)
        if words:
            assert says(row["text"], words), (name, row["text"])
        if status == "no_speech":
            assert row["text"] == "" and row["reason"], (name, row)
            assert json.loads((out / f"{row['id']}.json").read_text())["segments"] == []
        if status == "error":
            assert row["path"] in row["reason"] and row["text"] is None
            assert f"callscribe: error: cannot decode {row['path']}" in done.stderr
    assert "empty (0 bytes)" in rows["empty"]["reason"]
    assert "not a readable audio file" in rows["random bytes"]["reason"]
    assert "unknown codec 0x1234" in rows["unknown codec 0x1234"]["reason"] and "ffmpeg" in rows["unknown codec 0x1234"]["reason"]
    assert rows["header only"]["reason"] == "the file holds no audio (0 s)"
    assert rows["silence"]["reason"] == "no speech detected"
    assert rows["more calls/mulaw 8k"]["status"] == "ok" and rows["more calls/mulaw 8k"]["text"] != rows["mulaw 8k"]["text"]

    uni = out / "nested/deeper/appel reçu été 電話 +1 (555)"
    assert uni.with_suffix(".srt").read_text(encoding="utf-8").startswith("1\n00:00:0")
    assert uni.with_suffix(".vtt").read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:0")
    journal = read_jsonl(out / "journal.jsonl")
    assert len(journal) == len({e["id"] for e in journal}) == len(rows)


def test_bad_files_through_the_pipeline(sample_audio, tmp_path):
    project = copy_project(tmp_path / "project")
    bad = make_bad_files(tmp_path / "bad", sample_audio)
    jfk, other = find_sample(sample_audio, JFK), find_sample(sample_audio, "1758821279")
    zips = [tmp_path / "export a.zip", tmp_path / "export b.zip"]
    with zipfile.ZipFile(zips[0], "w") as z:
        for name in bad:
            z.write(tmp_path / "bad" / name, f"recordings/{name}")
        z.writestr("__MACOSX/recordings/._silence.wav", b"\0\5\26\7" + b"\0" * 80)
        z.write(jfk, f"recordings/{SAME_NAME}")
    with zipfile.ZipFile(zips[1], "w") as z:
        z.write(other, f"recordings/{SAME_NAME}")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["extract"]["archives"] = [str(z) for z in zips]
    params["shards"] = {"2025": {"start": "2025-01-01", "end": "2025-12-31"}}
    params["filter"]["undated_shard"] = "2025"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))

    repro = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, env=dvc_env(project))
    assert repro.returncode == 0, repro.stdout + repro.stderr
    assert "skipped __MACOSX/recordings/._silence.wav: macOS metadata" in repro.stdout

    calls = {c["id"]: c for c in read_jsonl(project / "data/output/calls.jsonl")}
    assert len(calls) == len(bad) + 2
    for name, (_, status, words) in bad.items():
        call = calls[f"export a/recordings/{Path(name).with_suffix('').as_posix()}"]
        assert call["status"] == status, (name, call)
        assert call["reason"] or status == "ok", (name, call)
        if words:
            assert says(call["text"], words), (name, call["text"])
        if status == "no_speech":
            assert call["text"] == "", (name, call)
    assert calls["export a/recordings/empty"]["reason"] == "unreadable: the file is empty (0 bytes)"
    assert calls["export a/recordings/random bytes"]["reason"].startswith("unreadable: not a readable audio file")
    assert calls["export a/recordings/header only"]["reason"] == "under min_bytes"
    assert calls["export a/recordings/unknown codec 0x1234"]["reason"].startswith("unreadable: unknown codec 0x1234 in the WAV header")

    same = [calls[f"export {x}/recordings/{Path(SAME_NAME).stem}"] for x in "ab"]
    assert [c["status"] for c in same] == ["ok", "ok"] and same[0]["text"] != same[1]["text"]
    assert same[0]["queue"] == "300" and same[0]["date"] == "2025-09-05"

    uni = project / "data/output/transcripts/export a/recordings/nested/deeper/appel reçu été 電話 +1 (555)"
    for fmt in ("json", "txt", "srt", "vtt"):
        assert uni.with_suffix(f".{fmt}").stat().st_size > 0
    journal = read_jsonl(project / "data/transcripts/2025/journal.jsonl")
    assert len(journal) == len({e["id"] for e in journal}) == sum(c["status"] != "filtered" for c in calls.values())
