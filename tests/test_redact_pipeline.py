"""Redaction end to end: calls spoken with card numbers (espeak-ng, through the GSM line), transcribed by
`dvc repro` and by `callscribe transcribe --redact`; no card number is left in any output, metric or
pushed file."""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from callscribe.spoken import normalise
from tests.helpers import copy_project, dvc

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                 reason="needs espeak-ng and sox (scripts/debian-packages.txt; `make test` installs them)")]

# Luhn-valid test numbers, each said differently; the agent's "okay" between groups in the second. (espeak-ng's
# "five" and "oh" come out of Whisper base as words, so these use "zero" and no 5: the test is about where
# the text goes, docs/REDACTION.md measures recognition.)
CALLS = {
    "20250905-101500-1757067300.1001": ("4929 1234 6678 9013", [
        ["agent", "Thank you for calling. Can I have the card number please?"],
        ["caller", "Sure, it's four nine two nine, one two three four, six six seven eight, nine zero one three."],
        ["agent", "Thank you. That's two hundred and forty five dollars today."]]),
    "20250910-143000-1757514600.1002": ("4111 1111 1111 1111", [
        ["agent", "What's the card number?"], ["caller", "It's four one one one, one one one one."], ["agent", "Okay."],
        ["caller", "One one one one, one one one one."], ["agent", "Thanks, we close at five thirty."]]),
    "20250920-091500-1758359700.1003": ("6011 0009 9013 9424", [
        ["agent", "And the Discover card you'd like to use?"],
        ["caller", "Six zero one one, zero zero zero nine, nine zero one three, nine four two four."],
        ["agent", "Great, we have three cars on the policy since twenty nineteen."]]),
}


def card_digits(card: str) -> str:
    return re.sub(r"\D", "", card)


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def texts_in(root: Path):
    """(path, text) for every text file under root; JSON as its strings in order (a word's digits
    next to the next word's, not to its times)."""
    for p in sorted(root.rglob("*")) if root.is_dir() else [root]:
        if not p.is_file() or p.suffix.lower() in (".wav", ".flac"):
            continue
        try:
            body = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        try:
            body = " ".join(strings(json.loads(body)))
        except ValueError:
            try:
                body = " ".join(s for line in body.splitlines() if line.strip() for s in strings(json.loads(line)))
            except ValueError:
                pass
        yield p, body


def leaks(text: str, digits: str) -> bool:
    """Any 8 digits of the card in a row, written or said, anywhere in `text`."""
    runs = re.findall(r"\d+", normalise(text.split()).text)
    return any(digits[i:i + 8] in run for run in runs for i in range(len(digits) - 7))


@pytest.fixture(scope="module")
def call_audio(tmp_path_factory) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.redaction_audio import speak_call

    folder = tmp_path_factory.mktemp("calls")
    for name, (_, turns) in CALLS.items():
        speak_call(turns, folder / f"q-300-+13364138311-{name}.WAV")
    return folder


def test_repro_with_redaction_leaves_no_card_number_in_any_output_or_pushed_file(tmp_path, call_audio):
    project = copy_project(tmp_path / "project")
    archive = tmp_path / "calls_2025-09.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for wav in sorted(call_audio.iterdir()):
            z.write(wav, f"recordings/{wav.name}")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["extract"]["archives"] = [str(archive)]
    params["redact"].update(enabled=True, keep_unredacted=True, audio=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(project, "repro")
    remote = tmp_path / "remote"
    dvc(project, "remote", "add", "-d", "store", str(remote))
    dvc(project, "push")

    rows = [json.loads(line) for line in (project / "data/output/calls.jsonl").read_text().splitlines()]
    assert [r["redactions"] for r in rows] == [{"card": 1}] * 3, [(r["text"], r.get("redactions")) for r in rows]
    metrics = json.loads((project / "metrics/redact.json").read_text())
    assert metrics["by_kind"]["card"] == 3 and metrics["calls_with_redactions"] == 3
    shared = [project / "data/output", project / "data/eval", project / "metrics", project / "data/profile.jsonl",
              project / "data/selected", remote, project / "dvc.lock"]
    checked = 0
    for root in shared:
        for path, body in texts_in(root):
            checked += 1
            for card, _ in CALLS.values():
                assert not leaks(body, card_digits(card)), f"{path} holds {card}"
    assert checked > 20
    assert (project / "data/output/audio").is_dir() and len(list((project / "data/output/audio").rglob("*.wav"))) == 3
    # The originals are kept, but only where nothing is pushed from.
    private = "".join(b for _, b in texts_in(project / "data/private"))
    raw = "".join(b for _, b in texts_in(project / "data/transcripts"))
    assert any(leaks(private, card_digits(c)) for c, _ in CALLS.values())
    assert any(leaks(raw, card_digits(c)) for c, _ in CALLS.values())


def test_cli_redact_writes_masked_files_and_counts(tmp_path, call_audio):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "callscribe.cli", "transcribe", str(call_audio), "-o", str(out), "--manifest",
           "--formats", "json,txt,srt,vtt", "--engine", "faster-whisper", "--redact=card,ssn"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [m["redactions"] for m in manifest] == [{"card": 1}] * 3
    assert json.loads((out / "redactions.json").read_text())["by_kind"] == {"card": 3, "ssn": 0}
    for path, body in texts_in(out):
        for card, _ in CALLS.values():
            assert not leaks(body, card_digits(card)), f"{path} holds {card}"
    assert not (out / "unredacted").exists()
    # Run again: nothing is transcribed, nothing redacted twice, the counts stay.
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert [json.loads(line)["redactions"] for line in (out / "manifest.jsonl").read_text().splitlines()] == [{"card": 1}] * 3
