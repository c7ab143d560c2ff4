"""Many calls: jobs -> worker pool -> records -> the shard folder.

`run` skips what the folder's journal says is done, restores what the store holds for these settings,
hands the rest to a pool (`callscribe.pools`) in groups (long calls alone, short ones together for
packing), and writes each call as its group finishes (`ShardFolder.write`). A worker that dies costs
only the call that killed it (`pools.after_loss`). Calls that fail for one reason, beyond chance, stop
the run (`TooManyFailed`): nothing of theirs is journaled as done.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from callscribe import __version__, pools
from callscribe.calls import Job, new_record
from callscribe.engines import ModelError
from callscribe.folder import ShardFolder
from callscribe.outputs import OutputError, output_error
from callscribe.privacy import Masker
from callscribe.records import ERROR, CallRecord, Transcript
from callscribe.settings import TranscribeSettings

PACK_GROUP_SECONDS = 60.0  # audio per group of packed short calls: a few windows, little lost to Ctrl-C
ALIKE = 3  # this many calls failed for one reason, and none transcribed: every call would fail alike


class TooManyFailed(Exception):
    """The calls failed for one reason (a setting, the engine), not each for its own: the run is not done."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # the common reason, as `common_reason` gives it


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


def groups(jobs: list[Job], pack_seconds: float, together_seconds: float = 0.0) -> list[list[Job]]:
    """Jobs (longest first) as worker tasks: short calls of similar length together (packed); longer calls
    alone, or of similar length together up to `together_seconds` of audio (their pieces decoded in lock-step)."""
    out: list[list[Job]] = []
    for job in jobs:
        short = 0 < job.duration <= pack_seconds
        last = out[-1] if out else None
        total = sum(j.duration for j in last) + job.duration if last else 0.0
        if short and last and 0 < last[0].duration <= pack_seconds and total <= PACK_GROUP_SECONDS:
            last.append(job)
        elif not short and job.duration > 0 and last and last[0].duration > pack_seconds and total <= together_seconds:
            last.append(job)
        else:
            out.append([job])
    return out


def together_seconds(settings: TranscribeSettings) -> float:
    """Audio of longer calls one worker task takes together: a piece per lock-step stream (faster-whisper's
    `batch_size`, callscribe/engines/whisper_batch.py); 0 where calls gain nothing from sharing a task."""
    if settings.engine != "faster-whisper" or settings.batch_size <= 1:
        return 0.0
    return settings.batch_size * settings.max_chunk_minutes * 60


def common_reason(job: Job, record: CallRecord) -> str | None:
    """A failure that may be everyone's (the engine, a setting), without the call's path; None for a
    call whose audio could not be read: bad input is that call's own."""
    if record.status != ERROR or (record.reason or "").startswith("cannot decode"):
        return None
    return (record.reason or "").replace(job.path, "a call")


class Writer:
    """Writes each result once (a group decoded again writes only its calls still to do), keeps the counts
    and the bar, and holds back failures that may be everyone's until the run shows they are not."""

    def __init__(self, folder: ShardFolder, summary: Summary, bar: tqdm, todo: list[Job]):
        self.folder, self.summary, self.bar = folder, summary, bar
        self.versions = {"callscribe": __version__}  # the engine's, once a worker has reported them
        self.duration_of, self.advanced = {j.id: j.duration for j in todo}, Counter()  # per call: audio seconds on the bar
        self.waiting = {j.id for j in todo}  # calls still to write
        self.held: list[tuple[Job, CallRecord, str]] = []  # failures that may be everyone's: journaled at the end
        self.decoded = 0  # calls decoded this run (not restored)

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
        reason = None if record.restored else common_reason(job, record)
        if reason is not None:
            self.held.append((job, record, reason))
        else:
            self.folder.write(job, record, transcript, original)
        self.waiting.discard(job.id)
        self.decoded += not record.restored
        self.versions = record.versions
        self.summary.counts[record.status] += 1
        self.summary.audio_seconds += record.audio_seconds
        self.bar.update(max(0.0, min(job.duration - self.advanced.pop(job.id, 0.0), self.bar.total - self.bar.n)))
        self.duration_of.pop(job.id, None)  # a piece reported late (the queue is slower than the result) moves nothing
        self.bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(self.summary.counts.items())), refresh=False)

    def restore(self, job: Job, previous: dict | None, hashes: set[str]) -> bool:
        record = self.folder.restore(job, previous, hashes)
        if record is None:
            return False
        self.waiting.discard(job.id)
        self.summary.restored += 1
        self.summary.counts[record.status] += 1
        self.summary.audio_seconds += record.audio_seconds
        self.bar.update(min(job.duration, self.bar.total - self.bar.n))
        return True

    def crashed(self, job: Job, settings: TranscribeSettings, error: Exception | None = None) -> None:
        """The record of a call whose worker died on it, alone (the call is the culprit), or whose group raised
        outside any one call's guard."""
        reason = pools.crash_reason(job.path)
        if error is not None:
            reason = f"transcription failed on {job.path} ({type(error).__name__}: {error}); check that the file plays"
        self.write(job, new_record(job, settings.engine, settings.model, self.versions, settings, status=ERROR, reason=reason), None)

    def check(self, final: bool) -> None:
        """Stop when the first calls all failed alike, or (at the end) more than half of those decoded did."""
        if not self.held:
            return
        reason, n = Counter(r for _, _, r in self.held).most_common(1)[0]
        if (n >= ALIKE and n == self.decoded) or (final and n >= 2 and 2 * n > self.decoded):
            raise TooManyFailed(f"{n} of the {self.decoded} calls transcribed this run failed for one reason, so none of them "
                                f"is kept as done and nothing is published: {reason[:600]}", reason)

    def flush(self, dropping: str | None = None) -> None:
        """Journal the failures held back, except those failed for `dropping` (run again next time)."""
        for job, record, reason in self.held:
            if reason != dropping:
                self.folder.write(job, record, None)
        self.held = []


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
    private: str | Path | None = None,
) -> Summary:
    """Transcribe `jobs` into `out_dir`. With a `masker`, everything written there is redacted (and what
    was written before is masked again when the redact settings changed); the originals, when kept, go
    to `private`."""
    folder = ShardFolder(out_dir, formats, masker, private)
    try:
        folder.root.mkdir(parents=True, exist_ok=True)  # even with nothing to do: it is a DVC output
    except OSError as e:
        raise output_error(folder.root, e) from e
    remasked = folder.remask()
    done = folder.entries() if resume else {}
    hashes = settings.hashes()  # one, or one per engine on a mixed Ray cluster (either engine's call is done)
    finished = folder.done(jobs, hashes) if resume else set()
    todo = sorted((j for j in jobs if j.id not in finished), key=lambda j: -j.duration)  # longest first: workers finish together
    summary = Summary(skipped=len(jobs) - len(todo), remasked=remasked)
    if not todo:
        summary.redact_seconds = masker.seconds if masker is not None else 0.0
        return summary
    folder.prepare(hashes)

    bar = tqdm(
        total=sum(j.duration for j in todo), unit="audio-s", desc=desc, dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 10, disable=not progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} audio-s [{elapsed}<{remaining}, {rate_fmt}]{postfix}",
    )
    t0 = time.perf_counter()
    writer = Writer(folder, summary, bar, todo)
    try:
        if resume:  # without it, everything is decoded again
            todo = [j for j in todo if not writer.restore(j, done.get(j.id), hashes)]
        if todo:
            # The groups a clean run forms (from every job), each sent whole if it holds a call to do: a packed
            # call's text depends on its window-mates, so a resumed run writes what an uninterrupted one would.
            everyone = sorted(jobs, key=lambda j: -j.duration)
            tasks = groups(everyone, settings.pack_seconds, together_seconds(settings))
            _run_all([g for g in tasks if any(j.id in writer.waiting for j in g)], settings, writer)
        writer.check(final=True)
        writer.flush()
    except TooManyFailed as e:
        writer.flush(dropping=e.reason)
        raise
    except BaseException:
        with contextlib.suppress(Exception):  # each failed alone: journaled, as the calls written so far
            writer.flush()
        raise
    finally:
        bar.close()
        summary.wall_seconds = time.perf_counter() - t0
        summary.redact_seconds = masker.seconds if masker is not None else 0.0
    folder.prune()
    return summary


def _run_all(tasks: list[list[Job]], settings: TranscribeSettings, writer: Writer) -> None:
    """Every task through the pool. A group whose worker died is run again as `pools.after_loss` says, alone
    where the pool's workers are not isolated (one death there fails every group in flight), until the call
    that kills its worker is found; it gets an error record, and the rest go on as before."""
    queue, suspects, running = list(reversed(tasks)), [], {}
    pool = pools.start(settings, len(queue))
    try:
        while queue or suspects or running:
            careful = bool(suspects) and not pool.isolates
            source = suspects or queue
            while source and len(running) < (1 if careful else 2 * pool.capacity) and not (careful and running):
                group = source.pop()
                running[pool.submit(group, alone=careful)] = group
            finished, _ = cf.wait(running, timeout=0.5, return_when=cf.FIRST_COMPLETED) if running else (set(), set())
            for item in pool.events():  # pieces of long calls finished meanwhile move the bar
                writer.advance(item)
            for fut in finished:
                group = running.pop(fut)
                try:
                    results = fut.result()
                except pools.WorkerLost as lost:
                    again = pools.after_loss(group, lost)
                    if not again:
                        writer.crashed(group[0], settings)
                    suspects += reversed(again)  # taken from the end: the first half first
                    continue
                except (ModelError, pools.ClusterError):  # the engine did not load, the cluster is gone: every call would fail alike
                    raise
                except Exception as e:  # noqa: BLE001 - raised outside any one call's guard: each call again alone
                    if len(group) == 1:
                        writer.crashed(group[0], settings, e)
                    else:
                        queue += [[job] for job in group]
                    continue
                for job, (record, transcript) in zip(group, results):
                    writer.write(job, record, transcript)
            writer.check(final=False)
    except BaseException:  # Ctrl-C, an unwritable output folder, calls failing alike: stop the workers now
        writer.summary.interrupted = True
        pool.close(now=True)
        raise
    pool.close()


# Exit statuses, the same from the CLI and the transcribe stage.
BAD_SETTING, CLUSTER, NOT_DONE, INTERRUPTED = 2, 3, 4, 130


def transcribe_folder(jobs, out_dir: str | Path, transcribe: dict, redact: dict | None, *, name: str, resume_hint: str,
                      private: str | Path | None = None, formats=("json",), resume: bool = True, desc: str | None = None,
                      info=None, done_note: str = "") -> tuple[int, Summary | None]:
    """Transcribe into `out_dir` as the CLI and the transcribe stage both do: the settings, the output folder
    and the model checked before any work (a typo costs nothing), then `run`. `jobs`: the calls, or a
    function giving them (called once the settings are known to be good). Messages start with `name`;
    returns (exit status, summary): 0 also when some calls failed each for its own reason (they have
    their records). `info`: where the lines that are not errors go (the stage's stdout by default)."""
    from callscribe.models import check_model, check_speaker_model
    from callscribe.redact import RedactSettings

    def say(message: str, error: bool = True) -> None:
        print(f"{name}: {message}", file=sys.stderr if error else (info or sys.stdout), flush=True)

    try:
        settings = TranscribeSettings.from_params(transcribe)
        masker = Masker(RedactSettings.from_params(redact)) if redact is not None else None
        check_folder(out_dir)
        check_model(settings)  # a name that cannot load here stops now, not in every worker
        check_speaker_model(settings)
        jobs = jobs() if callable(jobs) else jobs
    except (ValueError, ModelError, OutputError) as e:
        say(f"error: {e}")
        return BAD_SETTING, None
    engines = " or ".join(f"{s.engine} {s.model}" for s in settings.engine_choices().values())  # per node on a mixed cluster
    workers = settings.workers if settings.cluster == "local" else "Ray cluster"
    say(f"{len(jobs)} calls, {sum(j.duration for j in jobs) / 3600:.2f} h; {engines}, {workers} worker(s)", error=False)
    try:
        summary = run(jobs, out_dir, settings, resume=resume, formats=formats, desc=desc or name, masker=masker, private=private)
    except KeyboardInterrupt:
        say(f"interrupted; finished calls are saved, {resume_hint}")
        return INTERRUPTED, None
    except (OutputError, ModelError) as e:  # the message says what to do; a traceback would bury it
        say(f"error: {e}")
        return BAD_SETTING, None
    except TooManyFailed as e:
        say(f"error: {e}")
        return NOT_DONE, None
    except pools.ClusterError as e:
        say(f"error: {e}")
        from callscribe.pools.cluster import exit_now

        exit_now(e, CLUSTER)
        return CLUSTER, None
    restored = f" ({summary.restored} restored from earlier settings, not decoded)" if summary.restored else ""
    done = f", {summary.skipped} already done{done_note}" if resume else ""
    say(f"{dict(summary.counts)} written{restored}{done}", error=False)
    if masker is not None and (masker.settings.enabled or summary.remasked):
        say(f"redaction {summary.redact_seconds:.1f} s" + (f"; {summary.remasked} written before masked again for the "
                                                            "new redact settings" if summary.remasked else ""), error=False)
    return 0, summary


def check_folder(out_dir: str | Path) -> None:
    """A file where the output folder should be is named as such (not as a full disk), before any model loads."""
    path = Path(out_dir)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"{p} is a file, not a folder: give another output folder (it is made if missing), "
                                  "or move the file away")
            return
