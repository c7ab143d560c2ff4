"""Redaction where transcripts are written (callscribe.privacy through folder.ShardFolder): the shared folder
(journal, per-call files, store) holds masked text only, the original only in the private folder; a change
of the redact settings is applied again to what was written, decoding nothing; merge takes the masked text
and its counts as they are, and bleeps the audio where the words are masked."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callscribe.calls import Job
from callscribe.fileio import read_jsonl
from callscribe.folder import ShardFolder
from callscribe.merge import MissingShard, merge
from callscribe.privacy import Masker
from callscribe.records import CallRecord, Segment, Transcript, Word
from callscribe.redact import RedactSettings, Tally
from callscribe.store import Store

TEXT = "my card is 4111 1111 1111 1111 and my social is five three six nine oh four one two nine social security"
CARD, SSN = "4111", "five three six"


def transcript(text: str = TEXT) -> Transcript:
    words = [Word(round(i * 0.4, 3), round(i * 0.4 + 0.3, 3), " " + w, 0.9) for i, w in enumerate(text.split())]
    return Transcript(text, "en", 10.0, [Segment(0.0, words[-1].end, " " + text, words)])


def settings(**kw) -> RedactSettings:
    return RedactSettings.from_params({"enabled": True, **kw})


def write_call(out: Path, masker: Masker | None, private: Path | None = None, call_id: str = "a", settings_hash: str = "h1") -> ShardFolder:
    """What a worker's result goes through: the folder's one writer."""
    job = Job(call_id, str(out.parent / f"{call_id}.wav"), "sha-" + call_id, 10.0)
    folder = ShardFolder(out, ["json", "txt"], masker, private)
    folder.write(job, CallRecord(call_id, job.path, job.sha256, "faster-whisper", "base", settings_hash=settings_hash), transcript())
    return folder


def files_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file())


def latest(out: Path, call_id: str = "a") -> dict:
    return [e for e in read_jsonl(out / "journal.jsonl") if e["id"] == call_id][-1]


def test_the_shared_folder_gets_masked_text_and_counts_and_the_original_only_the_private_one(tmp_path):
    out, private = tmp_path / "transcripts", tmp_path / "private"
    s = settings(keep_unredacted=True)
    folder = write_call(out, Masker(s), private)

    shared = files_text(out)  # the per-call JSON and TXT, the journal, the store
    assert CARD not in shared and SSN not in shared and "[CARD]" in shared and "[SSN]" in shared
    entry = latest(out)
    assert entry["redactions"] == {"card": 1, "ssn": 1} and entry["redacted"] == s.signature()
    words = json.loads((out / "a.json").read_text())["segments"][0]["words"]
    assert [(w["start"], w["end"]) for w in words] == [(w.start, w.end) for w in transcript().segments[0].words]  # times kept
    assert Store(out).get("sha-a", "h1")["record"]["redactions"] == {"card": 1, "ssn": 1}
    assert CARD in (private / "a.json").read_text() and CARD in (private / "a.txt").read_text()
    assert CARD in json.dumps(Store(private).get("sha-a", "h1")["transcript"])

    # Back to these settings later: restored from the store, masked, and the original from the private store.
    (private / "a.json").unlink()
    job = Job("a", str(tmp_path / "a.wav"), "sha-a", 10.0)
    assert folder.restore(job, None, {"h1"}) is not None
    assert CARD not in (out / "a.json").read_text() and CARD in (private / "a.json").read_text()

    # Without keep_unredacted nothing is written to the private folder.
    out2, private2 = tmp_path / "t2", tmp_path / "p2"
    write_call(out2, Masker(settings()), private2)
    assert not private2.exists() and CARD not in files_text(out2)


def test_changed_redact_settings_are_applied_again_without_decoding(tmp_path):
    out, private = tmp_path / "transcripts", tmp_path / "private"
    write_call(out, Masker(settings(kinds=["card"], keep_unredacted=True)), private)
    assert SSN in (out / "a.json").read_text()

    def refresh(**kw) -> int:
        return ShardFolder(out, masker=Masker(settings(**kw)), private=private).remask()

    assert refresh(keep_unredacted=True) == 1  # ssn added: masked in the JSON, the journal's counts and the store
    assert SSN not in files_text(out) and latest(out)["redactions"] == {"card": 1, "ssn": 1}
    assert refresh(keep_unredacted=True) == 0  # the folder says which settings it is masked with: nothing to do
    assert refresh(kinds=["card"], keep_unredacted=True) == 1  # ssn taken out: it comes back from the original
    assert SSN in (out / "a.json").read_text() and latest(out)["redactions"] == {"card": 1}

    assert refresh() == 1  # no originals kept from now on: the private folder is emptied, ssn masked on the masked text
    assert list(private.iterdir()) == [] and SSN not in files_text(out)
    assert latest(out)["redactions"] == {"card": 1, "ssn": 1}
    assert refresh(kinds=["card"]) == 1  # without the original a mask cannot be undone: it stays, and stays counted
    assert SSN not in files_text(out) and latest(out)["redactions"] == {"card": 1, "ssn": 1}
    assert ShardFolder(out, masker=Masker(RedactSettings(enabled=False)), private=private).remask() == 0 and SSN not in files_text(out)
    assert {e["settings_hash"] for e in read_jsonl(out / "journal.jsonl")} == {"h1"}  # still done: nothing to decode


def test_a_folder_written_before_redaction_is_masked_on_the_next_run(tmp_path):
    out = tmp_path / "transcripts"
    write_call(out, None)  # raw, as the transcribe stage wrote it before
    assert CARD in (out / "a.json").read_text() and CARD in json.dumps(Store(out).get("sha-a", "h1"))
    assert ShardFolder(out, masker=Masker(settings()), private=tmp_path / "private").remask() == 1
    assert CARD not in files_text(out) and latest(out)["redactions"] == {"card": 1, "ssn": 1}


def test_merge_takes_the_masked_text_and_counts_and_bleeps_the_masked_words(tmp_path):
    root = tmp_path / "transcripts"
    s = settings(audio=True)
    write_call(root / "s", Masker(s), tmp_path / "private")
    sf.write(str(tmp_path / "a.wav"), np.full(8000 * 10, 0.1, np.float32), 8000)
    profile = [{"id": "a", "sha256": "sha-a", "archive": "x", "name": "a.wav"}]
    selected = {"s": [{"id": "a", "path": str(tmp_path / "a.wav")}]}
    tally = Tally(s)
    rows, _ = merge(profile, selected, {}, root, tmp_path / "out", ["json", "txt", "srt", "vtt"], redaction=tally,
                    audio_dir=tmp_path / "out" / "audio")
    assert rows[0]["redactions"] == {"card": 1, "ssn": 1} and "[CARD]" in rows[0]["text"] and CARD not in rows[0]["text"]
    assert CARD not in files_text(tmp_path / "out" / "transcripts")
    assert tally.metrics()["by_kind"]["card"] == 1 and tally.metrics()["calls_with_redactions"] == 1
    audio, sr = sf.read(str(tmp_path / "out" / "audio" / "a.wav"))
    for start, end in ((1.3, 1.5), (5.0, 5.5)):  # inside the card's words, the SSN's: a tone, not the call
        part = audio[int(start * sr):int(end * sr)]
        assert np.abs(part).max() > 0.15 and abs(float(np.mean(part))) < 0.05
    assert np.allclose(audio[:sr], 0.1, atol=1e-3)  # before them: the call as it was

    with pytest.raises(MissingShard, match="dvc repro transcribe@s"):  # masked with other settings than params.yaml's
        merge(profile, selected, {}, root, tmp_path / "out2", ["json"], redaction=Tally(settings(kinds=["card"])))
