"""Everyday CLI paths, through `callscribe.cli.main` in this process with a fake pool (tests/fakes.py):
what is checked before any work, zips taken as the pipeline takes them, the manifest without JSON."""

from __future__ import annotations

import json
import signal
import zipfile

import pytest

from callscribe import cli
from callscribe.fileio import read_jsonl
from tests.fakes import install
from tests.helpers import find_sample

JFK, OTHER = "1758662274", "1757252904"


@pytest.fixture(autouse=True)
def sigint_back():
    """`main` ignores Ctrl-C as it returns (for the interpreter's shutdown): put the handler back for the other tests."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


@pytest.fixture
def calls(sample_audio, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for key in (JFK, OTHER):
        src = find_sample(sample_audio, key)
        (folder / src.name).write_bytes(src.read_bytes())
    return folder


def transcribe(*args) -> int:
    return cli.main(["transcribe", *map(str, args), "--model", "tiny.en"])


def test_the_manifest_without_json_among_the_formats(calls, tmp_path, monkeypatch):
    install(monkeypatch)
    out = tmp_path / "out"
    assert transcribe(calls, "-o", out, "--formats", "txt", "--manifest") == 0
    rows = {r["id"]: r for r in read_jsonl(out / "manifest.jsonl")}
    assert len(rows) == 2 and all(r["status"] == "ok" and r["text"] == f"words of {k}" for k, r in rows.items())
    assert not list(out.glob("*.json")) and len(list(out.glob("*.txt"))) == 2


def test_a_zip_given_or_in_the_folder_is_unpacked_as_the_pipeline_does(calls, tmp_path, monkeypatch, capsys):
    install(monkeypatch)
    zipped = tmp_path / "zips"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "export.zip", "w") as z:
        for wav in sorted(calls.iterdir()):
            z.write(wav, f"queue/{wav.name}")
    out = tmp_path / "out"
    assert transcribe(zipped / "export.zip", "-o", out, "--manifest") == 0  # the zip itself
    ids = sorted(r["id"] for r in read_jsonl(out / "manifest.jsonl"))
    assert ids == sorted(f"export/queue/{w.stem}" for w in calls.iterdir())
    assert all((out / "audio" / "export" / "queue" / w.name).is_file() for w in calls.iterdir())
    assert "2 WAV file(s) unpacked" in capsys.readouterr().err
    out2 = tmp_path / "out2"
    assert transcribe(zipped, "-o", out2, "--manifest") == 0  # a folder holding only zips
    assert sorted(r["id"] for r in read_jsonl(out2 / "manifest.jsonl")) == ids


def test_a_folder_with_no_audio_stops_with_what_to_do(tmp_path, monkeypatch, capsys):
    pools = install(monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not audio")
    assert transcribe(empty, "-o", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"{empty}: no audio in it" in err and ".wav" in err and ".zip" in err
    with zipfile.ZipFile(empty / "nothing.zip", "w") as z:
        z.writestr("readme.txt", "no calls here")
    assert transcribe(empty, "-o", tmp_path / "out") == 2 and pools == []


def test_an_output_path_that_is_a_file_is_named_before_the_model_is_checked(calls, tmp_path, monkeypatch, capsys):
    import callscribe.models

    def no_model(settings):
        raise AssertionError("the model was checked before the output folder")

    monkeypatch.setattr(callscribe.models, "check_model", no_model)
    taken = tmp_path / "taken"
    taken.write_text("a file")
    assert transcribe(calls, "-o", taken) == 2
    err = capsys.readouterr().err
    assert f"{taken} is a file, not a folder" in err and "Free some space" not in err
    assert transcribe(calls, "-o", taken / "sub") == 2 and f"{taken} is a file" in capsys.readouterr().err


def test_a_bare_redact_before_the_inputs_leaves_them_inputs(calls, tmp_path, monkeypatch):
    install(monkeypatch)
    out = tmp_path / "out"
    assert cli.main(["transcribe", "--redact", str(calls), "-o", str(out), "--model", "tiny.en"]) == 0
    entries = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert len(entries) == 2 and all(e["redacted"] for e in entries)
    assert cli.bare_redact(["--redact", "card,ssn", str(calls)]) == ["--redact", "card,ssn", str(calls)]


def test_the_help_gives_the_speakers_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["transcribe", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 2)" not in text.split("--speakers")[1].split("--")[0] and "default: estimated" in text
