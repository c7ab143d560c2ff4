"""Filter, merge and report logic of issue 10: unique audio once, shards for every date, readable metrics and plots."""

import json
import multiprocessing
import time

import pytest

from callscribe import plots
from callscribe.calls import Job, transcribe_files
from callscribe.engines import load_engine
from callscribe.evaluate import summary
from callscribe.journal import Journal
from callscribe.merge import merge
from callscribe.outputs import write_transcript
from callscribe.records import Segment, Transcript
from callscribe.selection import FilterParams, choose, propose_shards, shard_lines
from callscribe.settings import TranscribeSettings
from tests.helpers import find_sample

SHARDS = {"2025-09a": {"start": "2025-09-01", "end": "2025-09-15"}, "2025-09b": {"start": "2025-09-16", "end": "2025-09-30"}}


def row(i, date, sha):
    return {"id": f"a/{i}", "path": f"a/{i}.wav", "readable": True, "bytes": 50_000, "duration": 30.0, "date": date, "sha256": sha,
            "queue": "300"}


def test_a_repeated_audio_is_selected_once_and_the_copy_points_to_it():
    rows = [row(1, "2025-09-03", "x"), row(2, "2025-09-03", "y"), row(3, "2025-09-20", "x")]
    sel = choose(rows, SHARDS, FilterParams())
    assert [r["id"] for r in sel.shards["2025-09a"]] == ["a/1", "a/2"] and sel.shards["2025-09b"] == []
    assert sel.duplicate_of == {"a/3": "a/1"} and sel.dropped == {"a/3": "duplicate of a/1"}
    assert sel.metrics["dropped_by_reason"] == {"duplicate": 1}


def test_calls_in_no_shard_are_reported_with_one_shard_per_month_to_add():
    rows = [row(1, "2025-09-03", "a"), row(2, "2025-10-02", "b"), row(3, "2025-10-30", "c"), row(4, "2025-08-31", "d")]
    sel = choose(rows, {"2025-09a": SHARDS["2025-09a"]}, FilterParams())
    assert sorted(r["date"] for r in sel.unsharded) == ["2025-08-31", "2025-10-02", "2025-10-30"]
    proposed = propose_shards([r["date"] for r in sel.unsharded] + ["2025-09-20"], {"2025-09a": SHARDS["2025-09a"]})
    assert proposed == {"2025-08": {"start": "2025-08-01", "end": "2025-08-31"},
                        "2025-09-16": {"start": "2025-09-16", "end": "2025-09-30"},  # the part of September no shard covers
                        "2025-10": {"start": "2025-10-01", "end": "2025-10-31"}}
    assert shard_lines({"2025-10": proposed["2025-10"]}) == "  2025-10: {start: '2025-10-01', end: '2025-10-31'}\n"
    # Filtered out on purpose (outside filter dates) is not "forgotten".
    assert choose(rows, {"2025-09a": SHARDS["2025-09a"]}, FilterParams(start="2025-09-01", end="2025-09-30")).unsharded == []


def test_merge_gives_a_duplicate_the_transcript_of_its_original(tmp_path):
    transcripts = tmp_path / "transcripts"
    t = Transcript("hello there", "en", 30.0, [Segment(0.0, 2.0, "hello there")])
    write_transcript(t, transcripts / "2025-09a" / "a/1", ["json"])
    Journal(transcripts / "2025-09a" / "journal.jsonl").append(
        {"id": "a/1", "sha256": "x", "status": "ok", "json": "a/1.json", "audio_seconds": 30.0, "wall_seconds": 3.0, "cpu_seconds": 2.0})
    profile = [row(1, "2025-09-03", "x"), row(3, "2025-09-20", "x")]
    for r in profile:
        r.update(archive="a", name=r["id"][2:] + ".wav")
    rows, metrics = merge(profile, {"2025-09a": [profile[0]], "2025-09b": []}, {"a/3": "duplicate of a/1"}, transcripts,
                          tmp_path / "out", ["json", "txt"], {"a/3": "a/1"})
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[1]["duplicate_of"] == "a/1" and "duplicate_of" not in rows[0]
    assert rows[1]["text"] == "hello there" and (tmp_path / "out/transcripts/a/3.txt").exists()
    assert metrics["audio_hours"] == round(30 / 3600, 4) and metrics["speed_x_realtime_per_cpu"] == 15.0  # counted once


def test_summary_puts_the_figures_that_matter_first():
    calls = [{"status": "ok", "duration": 1800.0}, {"status": "error", "duration": 1800.0}, {"status": "filtered", "duration": 5.0}]
    calls[0]["confidence"], calls[1]["confidence"] = 0.3, 0.9  # half the audio in a low-confidence call
    s = summary({"wer": 0.05, "cer": 0.02, "files": 9}, {"der": 0.07}, calls, {"speed_x_realtime_per_cpu": 12.5}, {"wer": 0.12345})
    assert s == {"wer": 0.05, "der": 0.07, "own": 0.123, "low": 0.5, "hours": 1.0, "calls": 2, "errors": 1, "speed": 12.5}
    assert summary({}, {}, calls, {})["own"] is None


def test_histogram_bins_are_in_numeric_order_and_drawn_as_png(tmp_path):
    bins = plots.histogram([3, 20, 45, 70, 200, 400, 700, 1300, 6000])  # seconds
    assert [b["minutes"] for b in bins] == ["0-0.1", "0.1-0.5", "0.5-1", "1-2", "2-5", "5-10", "10-20", "20-30", "30-60", "60-90", ">90"]
    assert [b["calls"] for b in bins] == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1]
    plots.bar_png(tmp_path / "h.png", [b["minutes"] for b in bins], [b["calls"] for b in bins], "minutes", "calls", "t")
    data = (tmp_path / "h.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    plots.bar_png(tmp_path / "again.png", [b["minutes"] for b in bins], [b["calls"] for b in bins], "minutes", "calls", "t")
    assert (tmp_path / "again.png").read_bytes() == data  # same data, same bytes: no churn in git


def _burn(stop, used):
    while not stop.is_set():
        sum(i * i for i in range(10_000))
    used.value = time.process_time()  # the CPU this process really took


@pytest.mark.slow
def test_speed_counts_worker_cpu_time_which_other_load_hardly_moves(sample_audio):
    """The speed in metrics.json is audio seconds per worker CPU-second: busy processes (one per core)
    beside the worker stretch its wall time but not its CPU time."""
    settings = TranscribeSettings(engine="faster-whisper", model="tiny.en", workers=1, diarize=False).resolved()
    engine = load_engine(settings)
    job = Job("jfk", str(find_sample(sample_audio, "1758662274")), "x", 11.0)

    def measure():
        records = [transcribe_files(engine, [job], settings)[0][0] for _ in range(3)]
        return min(r.cpu_seconds for r in records), min(r.wall_seconds for r in records)

    measure()  # warm up
    quiet_cpu, quiet_wall = measure()
    stop = multiprocessing.Event()
    used = [multiprocessing.Value("d", 0.0) for _ in range(multiprocessing.cpu_count())]
    burners = [multiprocessing.Process(target=_burn, args=(stop, u)) for u in used]
    for b in burners:
        b.start()
    try:
        time.sleep(0.5)
        started = time.perf_counter()
        busy_cpu, busy_wall = measure()
        window = time.perf_counter() - started + 0.5
    finally:
        stop.set()
        for b in burners:
            b.join()
    burned = sum(u.value for u in used)
    # The load was real: the burners ran beside the worker (a fifth of a core at least, on a machine others share
    # too), and the worker waited for the CPU more than when it ran alone (wall time per CPU-second stretched).
    assert burned >= 0.2 * window, (burned, window)
    assert (busy_wall / busy_cpu) > 1.1 * (quiet_wall / quiet_cpu), (quiet_cpu, busy_cpu, quiet_wall, busy_wall)
    assert quiet_cpu > 0 and 0.7 < busy_cpu / quiet_cpu < 1.4, (quiet_cpu, busy_cpu, quiet_wall, busy_wall)
    print(json.dumps({"cpu_ratio": round(busy_cpu / quiet_cpu, 2), "wall_ratio": round(busy_wall / quiet_wall, 2)}))
