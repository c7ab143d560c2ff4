"""Redaction end to end: calls spoken with card numbers (espeak-ng, through the GSM line), transcribed by
`dvc repro` and by `callscribe transcribe --redact`; no card number is left in any output, metric, index
or pushed file, the originals are only in data/private, and a second clone that pulls decodes nothing."""

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from callscribe.spoken import normalise
from tests.helpers import copy_project, dvc, dvc_env, ran

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
    """(path, text) for every file under root but audio: SQLite databases (the index, also as a remote
    object) dumped as SQL, JSON as its strings in order (a word's digits next to the next word's, not to
    its times), anything else as the text its bytes hold."""
    for p in sorted(root.rglob("*")) if root.is_dir() else [root]:
        if not p.is_file():
            continue
        raw = p.read_bytes()
        if raw.startswith(b"RIFF") or p.suffix.lower() in (".wav", ".flac"):
            continue
        if raw.startswith(b"SQLite format 3\x00"):
            with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as db:
                yield p, "\n".join(db.iterdump())
            continue
        body = raw.decode("utf-8", errors="ignore")
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


GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def sh(cwd: Path, *args) -> str:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env={**dvc_env(cwd), **GIT, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def journals(project: Path) -> dict[str, str]:
    return {j.parent.name: j.read_text() for j in sorted((project / "data/transcripts").glob("*/journal.jsonl"))}


def test_repro_with_redaction_pushes_no_card_number_and_a_second_clone_decodes_nothing(tmp_path, call_audio):
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
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "repro")
    dvc(project, "push")

    rows = [json.loads(line) for line in (project / "data/output/calls.jsonl").read_text().splitlines()]
    assert [r["redactions"] for r in rows] == [{"card": 1}] * 3, [(r["text"], r.get("redactions")) for r in rows]
    metrics = json.loads((project / "metrics/redact.json").read_text())
    assert metrics["by_kind"]["card"] == 3 and metrics["calls_with_redactions"] == 3
    # Every object on the remote, every output (the index calls.db too), the lock file and the transcribe
    # stage's folder (journal, per-call JSON, store): not one holds a card number.
    shared = [project / "data/output", project / "data/transcripts", project / "data/eval", project / "metrics",
              project / "data/profile.jsonl", project / "data/selected", project / "dvc.lock", remote]
    checked = {root: 0 for root in shared}
    for root in shared:
        for path, body in texts_in(root):
            checked[root] += 1
            for card, _ in CALLS.values():
                assert not leaks(body, card_digits(card)), f"{path} holds {card}"
    assert checked[remote] > 20 and (project / "data/output/calls.db").is_file()
    pushed = {body for _, body in texts_in(remote)}
    assert {body for path, body in texts_in(project / "data/transcripts") if path.name != ".gitignore"} <= pushed  # they were pushed
    assert (project / "data/output/audio").is_dir() and len(list((project / "data/output/audio").rglob("*.wav"))) == 3
    # The originals are kept, but only where nothing is pushed from (and the local DVC cache: never pushed):
    # each word masked in a shared transcript is there as the ASR wrote it (which may be garbled digits).
    for masked in (project / "data/transcripts").glob("*/calls_2025-09/recordings/*.json"):
        original = project / "data/private" / masked.relative_to(project / "data/transcripts")
        pairs = [(a["word"], b["word"]) for sa, sb in zip(*(json.loads(p.read_text())["segments"] for p in (masked, original)))
                 for a, b in zip(sa["words"], sb["words"])]
        assert any(a.strip() == "[CARD]" for a, _ in pairs) and all(b.strip() != "[CARD]" for _, b in pairs), masked
    private = "".join(b for _, b in texts_in(project / "data/private"))
    assert sum(leaks(private, card_digits(c)) for c, _ in CALLS.values()) >= 2  # the ones the ASR wrote whole
    for root in (project / "data", project / "plots", project / "metrics.json"):  # all the pipeline writes
        for path, body in texts_in(root):
            if "private" not in path.relative_to(project).parts:
                assert not any(leaks(body, card_digits(c)) for c, _ in CALLS.values()), path

    # A second machine: clone, pull, repro. The transcripts come from the remote, nothing is decoded.
    second = tmp_path / "second"
    sh(tmp_path, "git", "clone", "-q", str(project), str(second))
    out = sh(second, "bash", "scripts/repro.sh")  # what `make repro` runs: dvc pull --allow-missing, then dvc repro
    assert "pulling from the DVC remote first" in out, out
    # data/private is not on the remote: the transcribe stages run again, as a scan of the journal (no new line)
    assert ran(out) <= {"transcribe@2025-09a", "transcribe@2025-09b"}, out
    assert journals(second) == journals(project) and len(journals(project)) == 2
    assert (second / "data/output/calls.jsonl").read_text() == (project / "data/output/calls.jsonl").read_text()
    assert not any(leaks(b, card_digits(c)) for _, b in texts_in(second / "data") for c, _ in CALLS.values())


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
    assert not (out / "unredacted").exists() and len(list((out / "store").rglob("*.json"))) == 3  # the store is kept, masked
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert [e["redactions"] for e in journal] == [{"card": 1}] * 3
    # Run again: nothing is transcribed, nothing redacted twice, the counts stay.
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert [json.loads(line)["redactions"] for line in (out / "manifest.jsonl").read_text().splitlines()] == [{"card": 1}] * 3
    assert (out / "journal.jsonl").read_text().count("\n") == 3
    # With --keep-unredacted the originals go to OUT/unredacted/ only.
    kept = tmp_path / "kept"
    run = subprocess.run([*cmd[:6], str(kept), *cmd[7:], "--keep-unredacted"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    held = set()
    for path, body in texts_in(kept):
        private = "unredacted" in path.relative_to(kept).parts
        leaked = {c for c, _ in CALLS.values() if leaks(body, card_digits(c))}
        assert not leaked or private, path
        held |= leaked
    assert len(held) >= 2  # the originals: each card the ASR wrote whole (it may garble one: masked by context all the same)
