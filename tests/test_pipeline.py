"""The DVC pipeline as a user drives it, on a fresh copy of the project with the embedded samples."""

import json
import os
import shutil
import signal
import subprocess
import time
import zipfile

import pytest
import yaml

from callscribe.fileio import read_jsonl
from tests.helpers import copy_project, dvc, dvc_env, journal_ids, ran

pytestmark = pytest.mark.slow  # every test here runs a model or the whole pipeline


def test_repro_then_only_what_changed_reruns(tmp_path):
    project = copy_project(tmp_path / "project")
    first = dvc(project, "repro")
    assert ran(first) == {"extract", "profile", "filter", "transcribe@2025-09a", "transcribe@2025-09b", "merge", "index", "analytics",
                          "review", "evaluate"}
    assert "is empty" not in first  # no DVC warning about an output folder left empty (data/private/<shard>, data/output/audio)
    calls = read_jsonl(project / "data/output/calls.jsonl")
    status = {c["name"]: c["status"] for c in calls}
    assert len(calls) == 29 and list(status.values()).count("filtered") == 2
    assert list(status.values()).count("no_speech") == 1  # the silent call
    assert all(s in ("ok", "no_speech", "filtered") for s in status.values())
    jfk = next(c for c in calls if "1758662274" in c["name"])
    assert "ask not what your country can do for you" in jfk["text"].lower()
    assert (project / f"data/output/transcripts/{jfk['id']}.srt").exists()
    wer = json.loads((project / "metrics/wer.json").read_text())
    assert wer["scored_files"] >= 25 and wer["wer"] < 0.10  # Whisper base on read speech through GSM
    assert len(journal_ids(project)) == len(set(journal_ids(project))) == 27

    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-qm", "repro"], cwd=project, check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    assert ran(dvc(project, "repro")) == set()
    # Trackers and topic names are the analytics' alone: nothing else runs again.
    assert ran(dvc(project, "exp", "run", "-S", "analytics.match_score=90")) == {"analytics"}
    (project / "analytics" / "reasons.yaml").write_text("0: first topic\n")
    assert ran(dvc(project, "repro")) == {"analytics"}

    exp = dvc(project, "exp", "run", "-S", "transcribe.beam_size=1")
    assert ran(exp) == {"transcribe@2025-09a", "transcribe@2025-09b", "merge", "index", "analytics", "review", "evaluate"}
    diff = dvc(project, "metrics", "diff")
    assert "metrics.json" in diff and "wer" in diff

    # A third archive with a new date range and its own shard: only that shard is transcribed.
    new_zip = tmp_path / "calls_2025-10-01_2025-10-31.zip"
    with zipfile.ZipFile(project / "samples/calls_2025-09-16_2025-09-30.zip") as src, zipfile.ZipFile(new_zip, "w") as dst:
        for m in src.infolist():
            if "1758662274" in m.filename:  # jfk, re-dated into October
                dst.writestr("recordings/q-410-+19195550170-20251002-171754-1759439874.5684.WAV", src.read(m))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["extract"]["archives"].append(str(new_zip))
    params["shards"]["2025-10"] = {"start": "2025-10-01", "end": "2025-10-31"}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = dvc(project, "repro")
    assert {s for s in ran(third) if s.startswith("transcribe")} == {"transcribe@2025-10"}
    assert len(read_jsonl(project / "data/output/calls.jsonl")) == 30


def test_killed_repro_resumes_without_loss_or_duplicates(tmp_path):
    project = copy_project(tmp_path / "project")
    journal = project / "data/transcripts/2025-09b/journal.jsonl"
    proc = subprocess.Popen(["dvc", "repro"], cwd=project, env=dvc_env(project), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (journal.exists() and len(journal.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = journal.read_text().splitlines()
    assert 3 <= len(before) < 14, "the kill should land mid-shard"
    shutil.rmtree(project / ".dvc" / "tmp" / "rwlock", ignore_errors=True)

    dvc(project, "repro")
    after = journal.read_text().splitlines()
    assert after[: len(before)] == before  # nothing written is lost or rewritten
    ids = journal_ids(project)
    assert len(ids) == len(set(ids)) == 27  # every selected call once
    calls = read_jsonl(project / "data/output/calls.jsonl")
    assert {c["status"] for c in calls} <= {"ok", "no_speech", "filtered"}
    for entry in read_jsonl(journal):
        if entry.get("json"):
            json.loads((journal.parent / entry["json"]).read_text())  # complete, valid JSON
