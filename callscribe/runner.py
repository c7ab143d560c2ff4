"""Many calls: jobs -> worker pool -> records -> journal.

`run` skips what the journal says is done, hands the rest to a pool of workers in groups
(long calls alone, short ones together for packing), and writes each call's outputs and then
its journal line (`Writer`). A worker that dies is survived (`_run_all`).
"""

from __future__ import annotations

import concurrent.futures as cf
import sys
import time
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from callscribe import __version__
from callscribe import pool as pools
from callscribe.calls import Job, new_record
from callscribe.fileio import remove_stale_temp_files
from callscribe.journal import Journal, is_done
from callscribe.outputs import check_writable, output_error, write_transcript
from callscribe.records import ERROR, CallRecord, Transcript
from callscribe.settings import TranscribeSettings

PACK_GROUP_SECONDS = 60.0  # audio per group of packed short calls: a few windows, little lost to Ctrl-C


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)  # status -> files written this run
    skipped: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False


def groups(jobs: list[Job], pack_seconds: float) -> list[list[Job]]:
    """Jobs (longest first) as worker tasks: long calls alone, short calls of similar length together."""
    out: list[list[Job]] = []
    for job in jobs:
        short = 0 < job.duration <= pack_seconds
        last = out[-1] if out else None
        if short and last and 0 < last[0].duration <= pack_seconds and sum(j.duration for j in last) + job.duration <= PACK_GROUP_SECONDS:
            last.append(job)
        else:
            out.append([job])
    return out


class Writer:
    """The one writer of a run's folder: a call's outputs, then its journal line (so a record
    exists only once its outputs do), then the counts and the progress bar."""

    def __init__(self, out_dir: Path, formats, summary: Summary, bar: tqdm):
        self.out_dir, self.formats, self.summary, self.bar = out_dir, formats, summary, bar
        self.journal = Journal(out_dir / "journal.jsonl")
        self.versions = {"callscribe": __version__}  # the engine's, once a worker has reported them

    def write(self, job: Job, record: CallRecord, transcript: Transcript | None) -> None:
        try:
            if transcript is not None:
                write_transcript(transcript, self.out_dir / job.id, self.formats)
                record.json = f"{job.id}.json"
            record.finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self.journal.append(record.to_dict())
        except OSError as e:  # full disk, read-only: every later file would fail alike, so stop
            raise output_error(self.out_dir, e) from e
        self.versions = record.versions
        self.summary.counts[record.status] += 1
        self.summary.audio_seconds += record.audio_seconds
        self.bar.update(min(job.duration, self.bar.total - self.bar.n))
        self.bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(self.summary.counts.items())), refresh=False)

    def crashed(self, job: Job, settings: TranscribeSettings) -> None:
        """The record of a file whose worker died on it, alone: the file is the culprit."""
        reason = (f"the worker process died while transcribing {job.path} (out of memory or a crash in the decoder); "
                  "lower transcribe.max_chunk_minutes or transcribe.workers, or check the file")
        self.write(job, new_record(job, settings.engine, settings.model, self.versions, settings, status=ERROR, reason=reason), None)


def run(
    jobs: list[Job],
    out_dir: str | Path,
    settings: TranscribeSettings,
    *,
    resume: bool = True,
    formats=("json",),
    progress: bool = True,
    desc: str = "transcribe",
) -> Summary:
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)  # even with nothing to do: it is a DVC output
    except OSError as e:
        raise output_error(out_dir, e) from e
    done = Journal(out_dir / "journal.jsonl").entries() if resume else {}
    settings_hash = settings.hash()
    todo = [j for j in jobs if not is_done(done.get(j.id), j.sha256, settings_hash)]
    todo.sort(key=lambda j: -j.duration)  # longest first: workers finish together
    summary = Summary(skipped=len(jobs) - len(todo))
    if not todo:
        return summary
    check_writable(out_dir)  # a read-only or full folder fails now, not after the model has loaded
    remove_stale_temp_files(out_dir)  # left by a kill in the middle of a write

    bar = tqdm(
        total=sum(j.duration for j in todo), unit="audio-s", desc=desc, dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 10, disable=not progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} audio-s [{elapsed}<{remaining}, {rate_fmt}]{postfix}",
    )
    t0 = time.perf_counter()
    try:
        _run_all(groups(todo, settings.pack_seconds), settings, Writer(out_dir, formats, summary, bar))
    finally:
        bar.close()
        summary.wall_seconds = time.perf_counter() - t0
    return summary


def _run_all(tasks: list[list[Job]], settings: TranscribeSettings, writer: Writer) -> None:
    """Every task through the pool. A worker that dies (out of memory, a crash in the decoder)
    breaks the pool: the files in flight are then run one at a time in a new pool to find the
    culprit, which gets an error record, and the rest go on as before."""
    queue, suspects = list(reversed(tasks)), []
    pool = pools.start(settings, len(queue))
    try:
        while queue or suspects:
            batch, limit = (suspects, 1) if suspects else (queue, 2 * settings.workers)
            if _run_batch(pool, batch, limit, suspects, settings, writer):
                pool.shutdown(wait=False, cancel_futures=True)
                pool = pools.start(settings, 2)
    except BaseException:  # Ctrl-C, an unwritable output folder: stop the workers now, not after their files
        writer.summary.interrupted = True
        pools.stop(pool)
        raise
    pool.shutdown()


def _run_batch(pool, batch: list[list[Job]], limit: int, suspects: list[list[Job]], settings: TranscribeSettings, writer: Writer) -> bool:
    """Run the tasks of `batch` (taken from its end), `limit` at a time. True when a worker died:
    the files it may have held, and those still running, are then in `suspects`."""
    running: dict[cf.Future, list[Job]] = {}
    broken = False
    while batch or running:
        while batch and len(running) < limit:
            group = batch.pop()
            running[pools.submit(pool, group, settings)] = group
        finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for fut in finished:
            group = running.pop(fut)
            try:
                results = fut.result()
            except BrokenProcessPool:
                if limit == 1 and len(group) == 1:
                    writer.crashed(group[0], settings)
                else:
                    suspects += [[job] for job in group]
                broken = True
                continue
            for job, (record, transcript) in zip(group, results):
                writer.write(job, record, transcript)
        if broken:
            suspects += [[job] for group in running.values() for job in group]
            return True
    return False
