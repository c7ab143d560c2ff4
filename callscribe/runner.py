"""Many calls: jobs -> worker pool -> records -> journal.

`run` skips what the journal says is done, hands the rest to a pool of workers in groups
(long calls alone, short ones together for packing), and writes each call's outputs and then
its journal line (`Writer`). A worker that dies is survived (`_run_all`).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
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
from callscribe.cluster import ClusterError
from callscribe.engines import ModelError
from callscribe.fileio import remove_stale_temp_files
from callscribe.journal import Journal, is_done
from callscribe.outputs import check_writable, output_error, write_transcript
from callscribe.privacy import Masker
from callscribe.records import ERROR, CallRecord, Transcript
from callscribe.settings import TranscribeSettings
from callscribe.store import KEEP_SETTINGS, Store

PACK_GROUP_SECONDS = 60.0  # audio per group of packed short calls: a few windows, little lost to Ctrl-C


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)  # status -> files written this run
    skipped: int = 0
    restored: int = 0  # made before with these settings (an earlier experiment): taken from the store, not decoded
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False
    remasked: int = 0  # written before, masked again because the redact settings changed (nothing decoded)
    redact_seconds: float = 0.0


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
    exists only once its outputs do), then the counts and the progress bar. With a `masker`, what
    is written is redacted, and the original goes only to the private folder (callscribe.privacy)."""

    def __init__(self, out_dir: Path, formats, summary: Summary, bar: tqdm, todo: list[Job], masker: Masker | None = None):
        self.out_dir, self.formats, self.summary, self.bar, self.masker = out_dir, formats, summary, bar, masker
        self.journal = Journal(out_dir / "journal.jsonl")
        self.store = Store(out_dir)
        self.versions = {"callscribe": __version__}  # the engine's, once a worker has reported them
        self.duration_of, self.advanced = {j.id: j.duration for j in todo}, Counter()  # per call: audio seconds on the bar
        self.waiting = {j.id for j in todo}  # calls still to write: a group decoded again writes only these

    def advance(self, item: tuple[str, float]) -> None:
        """A piece of a long call is done: move the bar by it (never past the call's length)."""
        job_id, seconds = item
        step = min(seconds, self.duration_of.get(job_id, 0.0) - self.advanced[job_id], self.bar.total - self.bar.n)
        if step > 0:
            self.advanced[job_id] += step
            self.bar.update(step)

    def write(self, job: Job, record: CallRecord, transcript: Transcript | None, original: Transcript | None = None) -> None:
        if job.id not in self.waiting:  # written before: decoded again only as a window-mate of a call to do
            return
        try:
            if transcript is not None:
                try:
                    if self.masker is not None:  # raw text never reaches this folder
                        transcript, original = self.masker.apply(record, transcript, original)
                        self.masker.keep_original(job.id, record.to_dict(), original, store=not record.restored)
                    write_transcript(transcript, self.out_dir / job.id, self.formats)
                    record.json = f"{job.id}.json"
                except OSError:
                    raise
                except Exception as e:  # noqa: BLE001 - this file's transcript cannot be written; the others can
                    record.status, record.audio_seconds, record.warnings = ERROR, 0.0, []
                    record.reason = f"writing the transcript of {job.path} failed ({type(e).__name__}: {e}); check the file and report this"
            record.finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self.journal.append(record.to_dict())
            self.waiting.discard(job.id)
            if not record.restored:  # so that returning to these settings later costs no decoding
                self.store.put(record.to_dict(), transcript.to_dict() if transcript is not None else None)
        except OSError as e:  # full disk, read-only: every later file would fail alike, so stop
            raise output_error(self.out_dir, e) from e
        self.versions = record.versions
        self.summary.counts[record.status] += 1
        self.summary.audio_seconds += record.audio_seconds
        self.bar.update(max(0.0, min(job.duration - self.advanced.pop(job.id, 0.0), self.bar.total - self.bar.n)))
        self.duration_of.pop(job.id, None)  # a piece reported late (the queue is slower than the result) moves nothing
        self.bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(self.summary.counts.items())), refresh=False)

    def restore(self, job: Job, previous: dict | None, hashes: set[str]) -> bool:
        """Take the call from the store when these settings made it before; True if done so. First,
        the transcript the journal holds for other settings goes into the store (it is about to be
        overwritten), so going back to those costs nothing either, also for outputs made before the store.
        `hashes`: these settings' (one per engine on a Ray cluster whose nodes run different engines)."""
        if previous and previous.get("sha256") == job.sha256 and previous.get("json") and previous.get("settings_hash") not in hashes:
            if self.store.get(job.sha256, previous["settings_hash"]) is None and (self.out_dir / previous["json"]).exists():
                self.store.put(previous, json.loads((self.out_dir / previous["json"]).read_text(encoding="utf-8")))
                if self.masker is not None:
                    self.masker.keep_stored(previous, self.masker.original(job.id))
        found = next(((h, k) for h, k in ((h, self.store.get(job.sha256, h)) for h in sorted(hashes)) if k is not None), None)
        if found is None:
            return False
        settings_hash, kept = found
        record = CallRecord.from_dict({**kept["record"], "id": job.id, "path": job.path, "restored": True})
        transcript = Transcript.from_dict(kept["transcript"]) if kept["transcript"] is not None else None
        self.waiting.add(job.id)  # restoring is a decision to write this call
        self.write(job, record, transcript, self.masker.stored(job.sha256, settings_hash) if self.masker is not None else None)
        self.summary.restored += 1
        return True

    def crashed(self, job: Job, settings: TranscribeSettings, error: Exception | None = None) -> None:
        """The record of a file whose worker died on it, alone (the file is the culprit), or whose task raised
        outside any one file's guard."""
        reason = (f"the worker process died while transcribing {job.path} (out of memory or a crash in the decoder); "
                  "lower transcribe.max_chunk_minutes or transcribe.workers, or check the file")
        if error is not None:
            reason = f"transcription failed on {job.path} ({type(error).__name__}: {error}); check that the file plays"
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
    masker: Masker | None = None,
) -> Summary:
    """Transcribe `jobs` into `out_dir`. With a `masker`, everything written there is redacted
    (and what was written before is masked again when the redact settings changed)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)  # even with nothing to do: it is a DVC output
        remasked = masker.refresh(out_dir, Store(out_dir)) if masker is not None else 0
    except OSError as e:
        raise output_error(out_dir, e) from e
    done = Journal(out_dir / "journal.jsonl").entries() if resume else {}
    hashes = settings.hashes()  # one, or one per engine on a mixed Ray cluster (either engine's call is done)
    todo = [j for j in jobs if not is_done(done.get(j.id), j.sha256, hashes)]
    todo.sort(key=lambda j: -j.duration)  # longest first: workers finish together
    summary = Summary(skipped=len(jobs) - len(todo), remasked=remasked)
    if not todo:
        summary.redact_seconds = masker.seconds if masker is not None else 0.0
        return summary
    check_writable(out_dir)  # a read-only or full folder fails now, not after the model has loaded
    remove_stale_temp_files(out_dir)  # left by a kill in the middle of a write
    for h in hashes:
        Store(out_dir).touch(h)

    bar = tqdm(
        total=sum(j.duration for j in todo), unit="audio-s", desc=desc, dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 10, disable=not progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} audio-s [{elapsed}<{remaining}, {rate_fmt}]{postfix}",
    )
    t0 = time.perf_counter()
    writer = Writer(out_dir, formats, summary, bar, todo, masker)
    try:
        if resume:  # without it, everything is decoded again
            todo = [j for j in todo if not writer.restore(j, done.get(j.id), hashes)]
        if todo:
            # The groups a clean run forms (from every job), each sent whole if it holds a call to do: a packed
            # call's text depends on its window-mates, so a resumed run writes what an uninterrupted one would.
            everyone = sorted(jobs, key=lambda j: -j.duration)
            _run_all([g for g in groups(everyone, settings.pack_seconds) if any(j.id in writer.waiting for j in g)], settings, writer)
    finally:
        bar.close()
        summary.wall_seconds = time.perf_counter() - t0
        summary.redact_seconds = masker.seconds if masker is not None else 0.0
    writer.store.prune(KEEP_SETTINGS)
    if masker is not None:
        masker.prune(writer.store)
    return summary


def _run_all(tasks: list[list[Job]], settings: TranscribeSettings, writer: Writer) -> None:
    """Every task through the pool. A worker that dies (out of memory, a crash in the decoder)
    breaks the pool: the tasks in flight are then run one at a time in a new pool; one that kills
    its worker alone holds the culprit and is halved until it is found (a few model loads, not one
    per file). The culprit gets an error record, and the rest go on as before."""
    queue, suspects = list(reversed(tasks)), []
    pool = pools.start(settings, len(queue), writer.advance)
    try:
        while queue or suspects:
            batch, limit = (suspects, 1) if suspects else (queue, 2 * getattr(pool, "workers", settings.workers))
            if _run_batch(pool, batch, limit, suspects, settings, writer):
                pool.shutdown(wait=False, cancel_futures=True)
                pool = pools.start(settings, 2, writer.advance)
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
        while batch and len(running) < limit and not broken:
            group = batch.pop()
            try:
                running[pools.submit(pool, group, settings)] = group
            except BrokenProcessPool:  # a worker died since the last wait (found by bench/poison.py): this group never ran
                batch.append(group)
                broken = True
        finished, _ = cf.wait(running, timeout=0.5, return_when=cf.FIRST_COMPLETED) if running else (set(), set())
        pool.drain()  # pieces of long calls finished meanwhile move the bar
        for fut in finished:
            group = running.pop(fut)
            try:
                results = fut.result()
            except BrokenProcessPool:
                if limit == 1 and len(group) == 1:
                    writer.crashed(group[0], settings)
                elif limit == 1:
                    suspects += [group[: len(group) // 2], group[len(group) // 2 :]]
                else:
                    suspects.append(group)
                broken = True
                continue
            except (ModelError, ClusterError):  # the engine did not load, the cluster is gone: every file would fail alike
                raise
            except Exception as e:  # noqa: BLE001 - raised outside any one file's guard: each file again alone
                if len(group) == 1:
                    writer.crashed(group[0], settings, e)
                else:
                    batch += [[job] for job in group]
                continue
            for job, (record, transcript) in zip(group, results):
                writer.write(job, record, transcript)
        if broken:
            suspects += list(running.values())
            return True
    return False
