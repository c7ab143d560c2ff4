"""`make repro` says what the remote lacked, by output, and how many calls it will transcribe."""

import zipfile

import yaml

from callscribe import redo
from callscribe.fileio import write_jsonl
from callscribe.journal import Journal
from callscribe.settings import TranscribeSettings
from tests.helpers import REPO

PULL = """WARNING: Some of the cache files do not exist neither locally nor on remote. Missing cache files:
md5: 3a331a31a8ada2336ea1324f138639b8.dir
md5: b021233d792f53512975aa4ae5ede91e
Everything is up to date.
"""


def test_the_report_names_what_the_remote_lacks_and_counts_the_calls_to_transcribe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    shard = {"path": "data/transcripts/2025-09a", "md5": "3a331a31a8ada2336ea1324f138639b8.dir"}
    lock = {"stages": {"transcribe@2025-09a": {"outs": [shard]},
                       "merge": {"outs": [{"path": "data/output/calls.jsonl", "md5": "b021233d792f53512975aa4ae5ede91e"},
                                          {"path": "metrics/transcribe.json", "md5": "00992567cbf4534b3c32ac9745d8e4f8"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    rows = [{"id": f"c{i}", "path": f"c{i}.wav", "sha256": f"s{i}", "duration": 60.0} for i in range(5)]
    write_jsonl("data/selected/2025-09a.jsonl", rows)
    write_jsonl("data/selected/2025-09b.jsonl", rows[:2])
    settings = TranscribeSettings.from_params(yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"])
    journal = Journal("data/transcripts/2025-09b/journal.jsonl")
    journal.append({"id": "c0", "sha256": "s0", "settings_hash": settings.hash(), "status": "ok"})
    journal.append({"id": "c1", "sha256": "s1", "settings_hash": "older", "status": "ok"})  # other settings: redone
    lines = redo.report(PULL, "store")
    assert lines[0] == ("repro: the remote store lacks 2 outputs this commit's dvc.lock names: "
                        "data/output/calls.jsonl, data/transcripts/2025-09a")
    assert "`git commit` (dvc.lock too), then `dvc push`" in lines[1]
    assert lines[2:] == ["repro: transcribe@2025-09a: 5 of 5 calls to transcribe", "repro: transcribe@2025-09b: 1 of 2 calls to transcribe",
                         "repro: 6 calls to transcribe in all"]
    assert redo.report("Everything is up to date.\n", "store")[0] == "repro: the remote store has every output this commit's dvc.lock names"


def test_before_the_filter_has_run_the_archives_bound_the_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a fresh clone: no data/ yet
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text().replace("- samples/", f"- {REPO}/samples/"))
    archives = yaml.safe_load((tmp_path / "params.yaml").read_text())["extract"]["archives"]
    wavs = sum(n.lower().endswith(".wav") for a in archives for n in zipfile.ZipFile(a).namelist())
    lines = redo.report(None, None)
    assert lines[0] == (f"repro: transcribe@2025-09a: its calls are chosen by the filter stage first (of up to {wavs} WAVs in "
                        "extract.archives); each not in data/transcripts/2025-09a is transcribed") and wavs > 20
