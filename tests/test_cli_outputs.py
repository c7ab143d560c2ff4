"""Small things a user of the CLI hit (issue 10, #8): formats, the resume line, a model that fails to load, TXT."""

import os
import signal
import subprocess
import sys
import time

import pytest

from callscribe.outputs import to_txt
from callscribe.records import Segment, Transcript
from tests.helpers import REPO, find_sample

JFK = "1758662274"


def cli(*args):
    env_cmd = [sys.executable, "-m", "callscribe.cli", *map(str, args)]
    return subprocess.run(env_cmd, capture_output=True, text=True, cwd=REPO, timeout=600)


def one_call(sample_audio, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    src = find_sample(sample_audio, JFK)
    (folder / src.name).write_bytes(src.read_bytes())
    return folder, src.stem


def test_an_unknown_format_stops_before_any_work(sample_audio, tmp_path):
    folder, _ = one_call(sample_audio, tmp_path)
    out = cli("transcribe", folder, "-o", tmp_path / "out", "--formats", "json,txtt", "--model", "tiny.en")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "unknown output format 'txtt': choose from json, txt, srt, vtt, rttm" in out.stderr
    assert not (tmp_path / "out").exists()
    assert "rttm" in cli("transcribe", "--help").stdout


@pytest.mark.slow  # two runs of the CLI with a model
def test_rttm_is_a_format_and_already_done_is_said_only_with_resume(sample_audio, tmp_path):
    folder, stem = one_call(sample_audio, tmp_path)
    args = ("transcribe", folder, "-o", tmp_path / "out", "--formats", "json,txt,rttm", "--model", "tiny.en", "--engine", "faster-whisper")
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert "already done" not in first.stderr
    assert (tmp_path / "out" / f"{stem}.rttm").read_text().startswith(f"SPEAKER {stem} 1 ")
    again = cli(*args, "--resume")
    assert "1 already done (--resume)" in again.stderr


def test_a_model_that_fails_to_load_ends_with_its_message_and_status_2(sample_audio, tmp_path):
    folder, _ = one_call(sample_audio, tmp_path)
    model = tmp_path / "broken-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.bin").write_bytes(b"not a model")
    out = cli("transcribe", folder, "-o", tmp_path / "out", "--model", model, "--engine", "faster-whisper")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("failed to load") == 1
    assert str(model) in out.stderr
    journal = tmp_path / "out" / "journal.jsonl"
    assert not journal.exists() or not journal.read_text().strip()  # nothing recorded as if the calls had failed


def test_txt_has_timestamps_and_one_line_per_turn():
    segs = [Segment(0.5, 2.0, "Hello, how can I help?", speaker="agent"), Segment(2.1, 4.0, "I have a question.", speaker="agent"),
            Segment(4.5, 6.0, "About my bill.", speaker="caller"), Segment(3671.2, 3672.0, "Thanks.", speaker="agent")]
    assert to_txt(Transcript("", "en", 3672.0, segs)) == (
        "[00:00:00] [agent] Hello, how can I help? I have a question.\n"
        "[00:00:04] [caller] About my bill.\n"
        "[01:01:11] [agent] Thanks.\n")
    plain = [Segment(0.0, 2.0, "One."), Segment(2.0, 4.0, "Two.")]
    assert to_txt(Transcript("One. Two.", "en", 4.0, plain)) == "[00:00:00] One.\n[00:00:02] Two.\n"


@pytest.mark.slow  # a real run, stopped once its first call is written
def test_ctrl_c_prints_one_clear_line(sample_audio, tmp_path):
    """Ctrl-C to the whole process group (as a terminal sends it) with two workers: exit 130 and one
    line, no traceback and no "leaked semaphore" warning (tqdm's lock in a stopped worker, before)."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "callscribe.cli", "transcribe", str(sample_audio), "-o", str(out), "--workers", "2",
                             "--model", "tiny.en", "--engine", "faster-whisper"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "journal.jsonl").exists():
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    lines = [line for line in err.splitlines() if line.strip() and "audio-s" not in line]  # progress bar lines aside
    assert lines[-1] == "callscribe: interrupted; finished calls are saved, rerun with --resume to go on", err
    assert "Traceback" not in err and "leaked" not in err and "ERROR" not in err
