"""Stops at any moment (Ctrl-C, kill, a worker killed for memory, a read-only or full disk) lose nothing:
a rerun ends with exactly the records an uninterrupted run writes, each once, no file cut short."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from callscribe.calls import Job, transcribe_file
from callscribe.engines import Decoded, Engine
from callscribe.runner import run
from callscribe.settings import TranscribeSettings
from tests.badfiles import JFK, JFK_WORDS, long_gsm
from tests.helpers import find_sample

N_CALLS = 8


def short_calls(sample_audio: Path, folder: Path) -> Path:
    """The shortest sample calls with speech (3.5-6 s each), copied under `folder`."""
    calls = [p for p in sorted(sample_audio.rglob("q-*.WAV")) if 3.5 < sf.info(str(p)).duration < 6]
    assert len(calls) >= N_CALLS
    folder.mkdir(parents=True)
    for p in calls[:N_CALLS]:
        shutil.copy(p, folder / p.name)
    return folder


def cli(inputs, out, *extra, workers=2):
    return [sys.executable, "-m", "callscribe.cli", "transcribe", *map(str, inputs), "-o", str(out),
            "--formats", "json,txt,srt,vtt", "--workers", str(workers), *extra]


def outputs(out: Path) -> tuple[list[str], dict[str, dict]]:
    """Journal ids line by line (every line must be whole JSON) and each file's transcript JSON."""
    lines = (out / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    return [e["id"] for e in entries], {e["id"]: json.loads((out / e["json"]).read_text(encoding="utf-8")) for e in entries}


@pytest.mark.slow
def test_killed_and_interrupted_runs_resume_to_the_same_records(sample_audio, tmp_path):
    calls = short_calls(sample_audio, tmp_path / "in")
    ref_out = tmp_path / "reference"
    t0 = time.monotonic()
    subprocess.run(cli([calls], ref_out), check=True, capture_output=True)
    ref_wall = time.monotonic() - t0
    ref_ids, ref = outputs(ref_out)
    assert sorted(ref_ids) == sorted(p.stem for p in calls.iterdir())

    rng, cut_short = random.Random(5), 0
    for trial in range(10):
        sig = (signal.SIGINT, signal.SIGKILL)[trial % 2]
        workers = 1 if trial % 3 == 0 else 2  # the in-process worker and the pool
        out = tmp_path / f"trial{trial}"
        delay = rng.uniform(0.5, 0.6 * ref_wall)  # the reference run paid for a cold start: a stop must land mid-run
        proc = subprocess.Popen(cli([calls], out, workers=workers), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        time.sleep(delay)
        try:
            os.killpg(proc.pid, sig)  # the whole group, as a terminal's Ctrl-C or a power cut does
        except ProcessLookupError:
            pass
        _, err = proc.communicate()
        what = f"trial {trial}: {sig.name} after {delay:.1f} s, {workers} worker(s)"
        if sig == signal.SIGINT:
            assert proc.returncode in (0, 130), f"{what}\n{err}"
            assert "Traceback" not in err, f"{what}\n{err}"
            if proc.returncode == 130:
                assert "interrupted; finished calls are saved, rerun with --resume" in err

        journal = out / "journal.jsonl"
        cut_short += not journal.exists() or journal.read_text(encoding="utf-8").count("\n") < N_CALLS

        again = subprocess.run(cli([calls], out, "--resume", workers=workers), capture_output=True, text=True)
        assert again.returncode == 0, f"{what}\n{again.stderr}"
        ids, got = outputs(out)
        assert sorted(ids) == sorted(ref_ids), what  # every call once, no line cut short
        assert got == ref, what  # the same text, segments and word times as the uninterrupted run
        assert not list(out.rglob(".*.tmp")), what  # no half-written file left behind
        for stem in ref_ids:
            assert (out / f"{stem}.srt").read_text() == (ref_out / f"{stem}.srt").read_text(), what
    assert cut_short >= 7  # most stops landed before the run was done


def _children_rss(pid: int) -> dict[int, int]:
    """Resident memory (bytes) of each child process of `pid`, from /proc."""
    rss = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread ended while we looked
            continue
        for child in children:
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            rss[int(child)] = kb * 1024
    return rss


@pytest.mark.slow
@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(), reason="reads worker memory from Linux /proc")
def test_worker_killed_for_memory_gets_an_error_record_and_the_rest_go_on(sample_audio, tmp_path):
    """The kernel's OOM killer answers a worker that takes too much memory with SIGKILL. This test plays
    that part: it kills any worker above 1.5 GB, which only the 4-hour recording drives it to."""
    calls = short_calls(sample_audio, tmp_path / "in")
    huge = tmp_path / "in" / "stuck line 4h.wav"
    long_gsm(huge, 240)  # 23 MB on disk, 0.9 GB as 16 kHz floats
    jobs = [Job(p.stem, str(p), "x", sf.info(str(p)).duration) for p in sorted((tmp_path / "in").iterdir())]

    killed, stop = set(), threading.Event()

    def oom_killer():
        while not stop.is_set():
            for pid, rss in _children_rss(os.getpid()).items():
                if rss > 1.5 * 1024**3:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            time.sleep(0.02)

    watcher = threading.Thread(target=oom_killer, daemon=True)
    watcher.start()
    try:
        summary = run(jobs, tmp_path / "out", TranscribeSettings(workers=2).resolved(), progress=False)
    finally:
        stop.set()
        watcher.join()
    assert len(killed) >= 2  # in the pool, then again alone: only then is the file blamed
    entries = {e["id"]: e for e in map(json.loads, (tmp_path / "out" / "journal.jsonl").read_text().splitlines())}
    assert len(entries) == len(jobs) == sum(summary.counts.values())
    assert entries["stuck line 4h"]["status"] == "error"
    assert "worker process died" in entries["stuck line 4h"]["reason"] and str(huge) in entries["stuck line 4h"]["reason"]
    assert all(entries[p.stem]["status"] == "ok" for p in calls.iterdir() if p != huge)


class _OutOfMemoryEngine(Engine):
    """An engine whose decoder runs out of memory, as a real one does on an absurd input."""
    name, model, versions, supports_packing, model_seconds = "stub", "stub", {}, False, 0.0

    def transcribe(self, audio, settings, *, safer=False, packed=False, hint=None) -> Decoded:
        raise MemoryError()


def test_a_file_that_raises_gets_an_error_record(sample_audio):
    job = Job("jfk", str(find_sample(sample_audio, JFK)), "x", 11.0)
    record, transcript = transcribe_file(_OutOfMemoryEngine(), job, TranscribeSettings(workers=1).resolved())
    assert transcript is None and record.status == "error"
    assert "MemoryError" in record.reason and job.path in record.reason and "max_chunk_minutes" in record.reason


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB filesystem of its own (tmpfs); needs root, as on CI, else the test is skipped."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_full_disk_stops_with_a_clear_error_and_resumes(sample_audio, tmp_path, small_disk):
    src = find_sample(sample_audio, JFK)
    calls = tmp_path / "in"
    calls.mkdir()
    for i in range(4):
        shutil.copy(src, calls / f"call{i}.wav")
    out = small_disk / "out"
    out.mkdir()
    ballast = small_disk / "ballast"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    ballast.write_bytes(b"\0" * (free - 24 * 1024))  # room for about one call's outputs

    full = subprocess.run(cli([calls], out, workers=1), capture_output=True, text=True)
    assert full.returncode == 2, full.stderr
    assert f"cannot write to {out}: No space left on device" in full.stderr and "Traceback" not in full.stderr
    ids, got = outputs(out)  # what was written is whole: every journal line and its JSON
    assert len(ids) < 4 and len(set(ids)) == len(ids)

    ballast.unlink()
    again = subprocess.run(cli([calls], out, "--resume", workers=1), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    ids, got = outputs(out)
    assert sorted(ids) == [f"call{i}" for i in range(4)]
    assert all(JFK_WORDS in t["text"].lower() for t in got.values())


@pytest.mark.slow
def test_read_only_output_folder_gives_a_clear_error_and_changes_nothing(sample_audio, tmp_path, small_disk):
    calls = tmp_path / "in"
    calls.mkdir()
    shutil.copy(find_sample(sample_audio, JFK), calls / "first.wav")
    out = small_disk / "out"
    assert subprocess.run(cli([calls], out, workers=1), capture_output=True).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}  # the store/ folder too
    shutil.copy(find_sample(sample_audio, JFK), calls / "second.wav")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    ro = subprocess.run(cli([calls], out, "--resume", workers=1), capture_output=True, text=True)
    assert ro.returncode == 2
    assert f"cannot write to {out}: Read-only file system" in ro.stderr and "Traceback" not in ro.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_resume_inside_a_packed_group_decodes_the_group_whole(sample_audio, tmp_path):
    # The short calls are packed into one window; a stop while its records were being written leaves some
    # of them done. Decoded on their own, the rest would read differently (a packed call's text depends
    # on its window-mates), so the resume decodes the whole group again and writes only the missing ones.
    calls = short_calls(sample_audio, tmp_path / "in")
    ref_out, out = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(cli([calls], ref_out, workers=1), check=True, capture_output=True)
    ref_ids, ref = outputs(ref_out)
    shutil.copytree(ref_out, out)
    lines = (out / "journal.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "journal.jsonl").write_text("".join(lines[:3]), encoding="utf-8")  # as if stopped after 3 records
    for line in lines[3:]:
        (out / json.loads(line)["json"]).unlink()
    shutil.rmtree(out / "store", ignore_errors=True)  # nothing to restore from: the calls are decoded
    again = subprocess.run(cli([calls], out, "--resume", workers=1), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    ids, got = outputs(out)
    assert ids[:3] == ref_ids[:3] and sorted(ids) == sorted(ref_ids)  # the first three kept, each call once
    assert got == ref
