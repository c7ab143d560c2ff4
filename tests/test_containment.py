"""One file's failure stays that file's: wherever it is raised (probing, decoding, packing, diarization,
writing) or however its process dies, it becomes that file's record, and the files beside it (the
rest of its packed window, its batch) come out as if it were not there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool

import pytest

from callscribe import diarize, vad
from callscribe.audio import load_audio
from callscribe.calls import Job, transcribe_files
from callscribe.engines import load_engine
from callscribe.profile import profile_file
from callscribe.runner import run
from callscribe.settings import TranscribeSettings
from tests.helpers import REPO, find_sample

SHORT = ["1757252904", "1757776432", "1757343041"]  # 4.6, 6.1 and 8.1 s: packed into one window
HOOK = REPO / "bench" / "poison_hook"  # makes files with a marker segfault the process reading them


@pytest.fixture(scope="module")
def engine():
    return load_engine(TranscribeSettings(engine="faster-whisper", workers=1).resolved())


def jobs_for(sample_audio, keys=SHORT):
    return [Job(k, str(find_sample(sample_audio, k)), k, 5.0) for k in keys]


def texts(results):
    return {record.id: (record.status, t.text if t else None) for record, t in results}


@pytest.mark.parametrize("where", ["vad", "diarization"])
def test_a_call_that_raises_inside_a_packed_window_leaves_the_others_as_if_it_were_not_there(where, engine, sample_audio, monkeypatch):
    settings = TranscribeSettings(engine="faster-whisper", workers=1, diarize=True).resolved()
    jobs = jobs_for(sample_audio)
    victim = jobs[1]
    without = texts(transcribe_files(engine, [jobs[0], jobs[2]], settings))  # the window without the victim
    n = load_audio(victim.path).shape[1]
    if where == "vad":
        real = vad.speech_regions
        monkeypatch.setattr(vad, "speech_regions", lambda mono, *a, **k: 1 / 0 if len(mono) == n else real(mono, *a, **k))
    else:
        real = diarize.diarizer_for(settings.speaker_model)

        class Flaky:
            def turns(self, mono, speakers):
                if len(mono) == n:
                    raise RuntimeError("diarizer failed")
                return real.turns(mono, speakers)

        monkeypatch.setattr(diarize, "diarizer_for", lambda model: Flaky())
    results = transcribe_files(engine, jobs, settings)
    record = next(r for r, _ in results if r.id == victim.id)
    assert record.status == "error" and victim.path in record.reason, record
    got = texts(results)
    assert {k: v for k, v in got.items() if k != victim.id} == without
    assert all(status == "ok" and text for status, text in without.values())


def test_probing_that_raises_gives_an_unreadable_row(sample_audio, tmp_path, monkeypatch):
    path = tmp_path / "a" / "call.wav"
    path.parent.mkdir()
    shutil.copy(find_sample(sample_audio, SHORT[0]), path)
    monkeypatch.setattr("callscribe.profile.probe", lambda p: [][1])  # an IndexError deep in a decoder
    row = profile_file(path, tmp_path)
    assert not row["readable"] and "IndexError" in row["error"] and row["sha256"]


def test_a_transcript_that_cannot_be_written_is_that_files_error(sample_audio, tmp_path, monkeypatch):
    import callscribe.folder as tr

    real = tr.write_transcript

    def write(t, stem, formats):
        if str(stem).endswith(SHORT[1]):
            raise ValueError("cannot serialise")
        return real(t, stem, formats)

    monkeypatch.setattr(tr, "write_transcript", write)
    summary = run(jobs_for(sample_audio), tmp_path, TranscribeSettings(engine="faster-whisper", workers=1).resolved(), progress=False)
    assert summary.counts == {"ok": 2, "error": 1}
    journal = {e["id"]: e for e in map(json.loads, (tmp_path / "journal.jsonl").read_text().splitlines())}
    assert "writing the transcript" in journal[SHORT[1]]["reason"] and "cannot serialise" in journal[SHORT[1]]["reason"]


def marked(src, dest, marker: bytes) -> None:
    """A copy of a good WAV with a chunk holding `marker` before its data (decoders skip it)."""
    from bench.poison import with_chunk

    dest.write_bytes(with_chunk(src.read_bytes(), b"JUNK", marker))


def hooked_env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HOOK)])}


def test_profile_survives_a_file_that_crashes_its_decoder(sample_audio, tmp_path):
    root = tmp_path / "audio" / "export"
    root.mkdir(parents=True)
    for k in SHORT:
        shutil.copy(find_sample(sample_audio, k), root / f"{k}.wav")
    marked(find_sample(sample_audio, SHORT[0]), root / "killer.wav", b"POISON-KILLS-DECODER")
    code = ("import json, sys; from callscribe.profile import profile_tree; "
            "rows, _ = profile_tree(sys.argv[1], workers=2, progress=False); print(json.dumps(rows))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "audio")], capture_output=True, text=True, env=hooked_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert len(rows) == 4 and all(rows[f"{k}.wav"]["readable"] for k in SHORT)
    killer = rows["killer.wav"]
    assert not killer["readable"] and "died" in killer["error"] and str(root / "killer.wav") in killer["error"]


@pytest.mark.slow  # a CLI run that loses a worker to a segfault: about a minute
def test_a_segfault_in_the_only_worker_costs_one_file(sample_audio, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    for k in SHORT:
        shutil.copy(find_sample(sample_audio, k), folder / f"{k}.wav")
    marked(find_sample(sample_audio, SHORT[0]), folder / "killer.wav", b"POISON-KILLS-WORKER")
    done = subprocess.run([sys.executable, "-m", "callscribe.cli", "transcribe", str(folder), "-o", str(tmp_path / "out"), "--manifest",
                           "--workers", "1"], capture_output=True, text=True, env=hooked_env(), timeout=600)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "manifest.jsonl").read_text().splitlines())}
    assert rows["killer"]["status"] == "error" and "worker process died" in rows["killer"]["reason"]
    assert all(rows[k]["status"] == "ok" and rows[k]["text"] for k in SHORT)


def test_a_pool_that_breaks_between_two_submissions_is_rebuilt(sample_audio, tmp_path, monkeypatch):
    """A worker can die after `wait` returned and before the next task is handed over: `submit` itself then
    raises. bench/poison.py hit this on its 1,000-file run and the stage ended; now the pool is rebuilt."""
    import concurrent.futures as cf

    real, calls = cf.ProcessPoolExecutor.submit, []

    def breaks_once(executor, fn, group):
        calls.append(group)
        if len(calls) == 2:
            raise BrokenProcessPool("a child process terminated abruptly")
        return real(executor, fn, group)

    monkeypatch.setattr(cf.ProcessPoolExecutor, "submit", breaks_once)
    jobs = [Job(k, str(find_sample(sample_audio, k)), k, 20.0) for k in SHORT]  # 20 s each: one task per call
    summary = run(jobs, tmp_path, TranscribeSettings(engine="faster-whisper", workers=1).resolved(), progress=False)
    # The group refused is handed over again (a task still running on the broken pool may be too).
    assert summary.counts == {"ok": 3} and calls[1] in calls[2:]
