"""merge and index never replace outputs with emptier ones: a call's text lost to an error or to missing
transcripts stops the stage and leaves what is there byte for byte; a smaller selection does not."""

import hashlib
import json
import shutil

import pytest

from bench import synthetic_calls
from callscribe import emptier
from callscribe.fileio import write_jsonl
from callscribe.journal import Journal
from callscribe.outputs import write_transcript
from callscribe.records import Segment, Transcript
from stages import index as index_stage
from stages import merge as merge_stage
from tests.helpers import REPO

SHARD = "2025-09a"


def digest(*paths) -> str:
    """One hash over files and folders (names and bytes)."""
    h = hashlib.sha256()
    for root in paths:
        for p in sorted([root] if root.is_file() else root.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(root.parent)).encode() + p.read_bytes())
    return h.hexdigest()


def project(tmp_path, monkeypatch, redact=False):
    text = (REPO / "params.yaml").read_text().replace("  enabled: true", f"  enabled: {str(redact).lower()}", 1)
    (tmp_path / "params.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(emptier.OVERRIDE, raising=False)


def transcribed(ids, failed=()):
    """data/ as transcribe@2025-09a leaves it: each call done, those in `failed` with an error since."""
    journal = Journal(f"data/transcripts/{SHARD}/journal.jsonl")
    for i in ids:
        t = Transcript(f"hello from {i}", "en", 10.0, [Segment(0.0, 2.0, f"hello from {i}")])
        write_transcript(t, f"data/transcripts/{SHARD}/{i}", ["json"])
        journal.append({"id": i, "sha256": f"sha-{i}", "status": "ok", "json": f"{i}.json", "audio_seconds": 10.0})
    for i in failed:
        journal.append({"id": i, "sha256": f"sha-{i}", "status": "error", "reason": "TypeError: beam_size must be int"})


def selection(ids, dropped=()):
    rows = [{"id": i, "path": f"data/audio/{i}.wav", "sha256": f"sha-{i}", "duration": 10.0, "date": "2025-09-02"} for i in ids]
    write_jsonl("data/profile.jsonl", [{**r, "name": f"{r['id']}.wav"} for r in rows])
    write_jsonl(f"data/selected/{SHARD}.jsonl", [r for r in rows if r["id"] not in dropped])
    write_jsonl("data/selected/2025-09b.jsonl", [])
    write_jsonl("data/filtered_out.jsonl", [{"id": i, "reason": "queue not selected"} for i in dropped])


def test_merge_refuses_to_lose_text_to_errors_and_keeps_the_outputs_byte_for_byte(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch)
    ids = ["a", "b", "c"]
    selection(ids)
    transcribed(ids)
    merge_stage.main()
    outputs = [tmp_path / "data/output/calls.jsonl", tmp_path / "data/output/transcripts", tmp_path / "data/output/audio"]
    before = digest(*outputs)
    transcribed([], failed=["b", "c"])  # a re-run whose calls failed
    with pytest.raises(SystemExit) as e:
        merge_stage.main()
    assert "merge: 2 of the 3 calls with text in data/output/calls.jsonl would lose it" in str(e.value)
    assert "2 x error: TypeError: beam_size must be int" in str(e.value) and emptier.OVERRIDE in str(e.value)
    assert digest(*outputs) == before and not (tmp_path / "data/output/.merging").exists()

    monkeypatch.setenv(emptier.OVERRIDE, "1")  # asked for: replaced
    merge_stage.main()
    rows = [json.loads(line) for line in open("data/output/calls.jsonl")]
    assert [r["status"] for r in rows] == ["ok", "error", "error"]
    assert sorted(p.name for p in (tmp_path / "data/output/transcripts").iterdir()) == ["a.json", "a.srt", "a.txt", "a.vtt"]


def test_merge_lets_a_smaller_selection_through_and_drops_its_files(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch)
    selection(["a", "b"])
    transcribed(["a", "b"])
    merge_stage.main()
    selection(["a", "b"], dropped=["b"])  # the filter leaves b out now: a choice, not a loss
    merge_stage.main()
    rows = {r["id"]: r for r in (json.loads(line) for line in open("data/output/calls.jsonl"))}
    assert rows["b"]["status"] == "filtered" and rows["a"]["text"] == "hello from a"
    assert not list((tmp_path / "data/output/transcripts").glob("b.*"))  # replaced whole: no stale files


def test_index_refuses_to_drop_the_text_of_calls_that_failed_since(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch)
    out = tmp_path / "data" / "output"
    out.mkdir(parents=True)
    rows = synthetic_calls.write(out, 30, 1)
    index_stage.main()
    db = out / "calls.db"
    before = db.read_bytes()
    with_text = [r for r in rows if r.get("text")]
    failed = {r["id"] for r in with_text[:4]}
    lost = [{**r, "status": "error", "reason": "TypeError: x", "text": None} if r["id"] in failed else r for r in rows]
    write_jsonl(out / "calls.jsonl", lost)
    with pytest.raises(SystemExit, match=r"index: 4 of the \d+ calls with text in data/output/calls.db would lose it "
                                         r"\(4 x error: TypeError: x\)"):
        index_stage.main()
    assert db.read_bytes() == before

    shutil.rmtree(out / "transcripts")  # gone from the archive: dropped rows leave the index without a fuss
    (out / "transcripts").mkdir()
    write_jsonl(out / "calls.jsonl", [{**r, "status": "filtered", "text": None} for r in rows[:3]])
    index_stage.main()
    assert db.read_bytes() != before
