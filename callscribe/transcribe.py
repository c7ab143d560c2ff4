"""Transcription of many files: the one place where audio meets a model and records are written.

`transcribe_file` turns one call into a `Transcript` (cutting long calls at pauses so memory stays
bounded); `run` drives a pool of worker processes over a list of `Job`s, writes each call's JSON
atomically, then its journal line, and skips what the journal says is done.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from callscribe import __version__, diarize
from callscribe.audio import SAMPLE_RATE, AudioError, load_audio, to_mono
from callscribe.journal import Journal, is_done
from callscribe.outputs import write_transcript
from callscribe.records import Segment, Transcript
from callscribe.settings import TranscribeSettings


@dataclass
class Job:
    id: str  # unique key: the output is written to <out>/<id>.json
    path: str
    sha256: str
    duration: float = 0.0  # seconds if known: orders the work and drives the ETA


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)  # status -> files written this run
    skipped: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False


# --- one call ----------------------------------------------------------------------------


def pieces(audio: np.ndarray, max_seconds: float, sr: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """Cut mono audio into pieces of at most `max_seconds`, each cut at the quietest half
    second in the last quarter of its window: a pause, not the middle of a word."""
    n, limit = len(audio), int(max_seconds * sr)
    if n <= limit:
        return [(0, n)]
    hop = sr // 10
    energy = np.sqrt(np.convolve(np.square(audio, dtype=np.float64)[: n - n % hop].reshape(-1, hop).mean(1), np.ones(5) / 5, "same"))
    out, start = [], 0
    while n - start > limit:
        lo, hi = (start + limit * 3 // 4) // hop, (start + limit) // hop
        cut = (lo + int(np.argmin(energy[lo:hi]))) * hop
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def repetition_warning(text: str, seconds: float) -> str | None:
    """Flag output no speaker could produce: a loop of one phrase, or far too many words."""
    words = text.split()
    if len(words) > 8 and len(words) / max(seconds, 1.0) > 6:
        return f"implausible: {len(words)} words in {seconds:.0f} s of audio"
    if len(text) > 120:
        ratio = len(text.encode()) / len(zlib.compress(text.encode()))
        if ratio > 3.0:
            return f"repetition loop: text compresses {ratio:.1f}x"
    return None


def transcribe_audio(engine, audio: np.ndarray, settings: TranscribeSettings) -> tuple[Transcript, list[str]]:
    """Transcribe 16 kHz float32 (channels, samples) audio; times are relative to the whole call.

    With `settings.diarize`, a stereo call is transcribed channel by channel (one party each) and
    its segments named by `channel_names`; a mono call (or stereo with identical channels) gets
    speaker turns from `callscribe.diarize`."""
    if not settings.diarize:
        return _transcribe_mono(engine, to_mono(audio), settings)
    if not diarize.same_channels(audio):
        segments, warnings, language = [], [], settings.language
        for i, channel in enumerate(audio):
            name = settings.channel_names[i] if i < len(settings.channel_names) else f"CHANNEL_{i}"
            part, warned = _transcribe_mono(engine, channel, settings)
            segments += diarize.label_channel(part.segments, name)
            warnings += [f"{name}: {w}" for w in warned]
            language = language or part.language
        segments.sort(key=lambda s: (s.start, s.end))
        text = " ".join(s.text for s in segments if s.text).strip()
        duration = round(audio.shape[1] / SAMPLE_RATE, 3)
        return Transcript(text, language, duration, segments, diarize.talk_time(segments)), warnings
    mono = to_mono(audio)
    transcript, warnings = _transcribe_mono(engine, mono, settings)
    if transcript.segments:
        turns = diarize.diarizer().turns(mono, settings.speakers)
        transcript.segments = diarize.assign_speakers(transcript.segments, turns)
        transcript.speakers = diarize.talk_time(transcript.segments)
    return transcript, warnings


def _transcribe_mono(engine, mono: np.ndarray, settings: TranscribeSettings) -> tuple[Transcript, list[str]]:
    duration = len(mono) / SAMPLE_RATE
    segments: list[Segment] = []
    warnings: list[str] = []
    language = settings.language
    for start, end in pieces(mono, settings.max_chunk_minutes * 60):
        offset = start / SAMPLE_RATE
        segs, language = engine.transcribe(mono[start:end], settings)
        warning = repetition_warning(" ".join(s.text for s in segs), (end - start) / SAMPLE_RATE)
        if warning:
            retry, language = engine.transcribe(mono[start:end], settings, safer=True)
            again = repetition_warning(" ".join(s.text for s in retry), (end - start) / SAMPLE_RATE)
            warnings.append(f"{warning} at {offset:.0f} s; retried with safer decoding" + (f", still {again}" if again else ""))
            if not again or len(" ".join(s.text for s in retry)) < len(" ".join(s.text for s in segs)):
                segs = retry
        segments += [s.shifted(offset) for s in segs]
    text = " ".join(s.text for s in segments if s.text).strip()
    return Transcript(text=text, language=language, duration=round(duration, 3), segments=segments), warnings


def transcribe_file(engine, job: Job, settings: TranscribeSettings) -> tuple[dict, Transcript | None]:
    """One call -> (journal record, transcript or None). Never raises for bad audio."""
    t0 = time.perf_counter()
    record = {
        "id": job.id, "path": job.path, "sha256": job.sha256, "engine": engine.name, "model": engine.model,
        "versions": {"callscribe": __version__, **engine.versions}, "settings_hash": settings.hash(),
    }
    try:
        audio = load_audio(job.path)
    except (AudioError, OSError) as e:
        reason = f"cannot decode {job.path}: {e}. Check that the file plays; re-export it or leave it out with the filter params."
        return {**record, "status": "error", "reason": reason, "audio_seconds": 0.0, "wall_seconds": round(time.perf_counter() - t0, 3), "warnings": []}, None
    transcript, warnings = transcribe_audio(engine, audio, settings)
    status = "ok" if transcript.text else "no_speech"
    record.update(
        status=status, reason=None if transcript.text else "no speech detected",
        audio_seconds=transcript.duration, wall_seconds=round(time.perf_counter() - t0, 3), warnings=warnings,
    )
    return record, transcript


# --- worker processes ----------------------------------------------------------------------

_ENGINE = None
_LOAD_ERROR: Exception | None = None


def _init_worker(settings: TranscribeSettings) -> None:
    global _ENGINE, _LOAD_ERROR
    from callscribe.engines import load_engine

    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us

    try:
        _ENGINE = load_engine(settings)
    except Exception as e:  # noqa: BLE001 - reported by the first task, with the file it was for
        _LOAD_ERROR = e


def _work(job: Job, settings: TranscribeSettings):
    if _LOAD_ERROR is not None:
        raise RuntimeError(f"model {settings.model!r} ({settings.engine}) failed to load: {_LOAD_ERROR}")
    record, transcript = transcribe_file(_ENGINE, job, settings)
    return record, transcript.to_dict() if transcript else None


class _InProcessPool:
    """The same interface as a process pool, for one worker: the model lives in this process."""

    def __init__(self, settings):
        _init_worker(settings)

    def submit(self, fn, *args):
        f = cf.Future()
        try:
            f.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001
            f.set_exception(e)
        return f

    def shutdown(self, **_):
        pass


def _pool(settings: TranscribeSettings, n_jobs: int):
    if settings.workers <= 1 or n_jobs <= 1:
        return _InProcessPool(settings)
    # spawn, never fork: fork corrupts Metal contexts on macOS and copies big parents.
    ctx = multiprocessing.get_context("spawn")
    return cf.ProcessPoolExecutor(min(settings.workers, n_jobs), mp_context=ctx, initializer=_init_worker, initargs=(settings,))


# --- many calls -----------------------------------------------------------------------------


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
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(out_dir / "journal.jsonl")
    done = journal.entries() if resume else {}
    settings_hash = settings.hash()
    todo = [j for j in jobs if not is_done(done.get(j.id), j.sha256, settings_hash)]
    todo.sort(key=lambda j: -j.duration)  # longest first: workers finish together
    summary = Summary(skipped=len(jobs) - len(todo))
    if not todo:
        return summary

    bar = tqdm(
        total=round(sum(j.duration for j in todo), 1), unit="audio-s", desc=desc, dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 10, disable=not progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} audio-s [{elapsed}<{remaining}, {rate_fmt}]{postfix}",
    )
    t0 = time.perf_counter()

    def finish(job: Job, record: dict, transcript: dict | None) -> None:
        if transcript is not None:
            write_transcript(Transcript.from_dict(transcript), out_dir / job.id, formats)
            record["json"] = f"{job.id}.json"
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        journal.append(record)  # last: a record exists only once its outputs do
        summary.counts[record["status"]] += 1
        summary.audio_seconds += record["audio_seconds"]
        bar.update(job.duration)
        bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(summary.counts.items())), refresh=False)

    queue, suspects = list(reversed(todo)), []
    pool = _pool(settings, len(todo))
    try:
        while queue or suspects:
            # After a worker died, run the files it may have held one at a time to find the culprit.
            batch, limit = (suspects, 1) if suspects else (queue, 2 * settings.workers)
            running: dict[cf.Future, Job] = {}
            broken = False
            while batch or running:
                while batch and len(running) < limit:
                    job = batch.pop()
                    running[pool.submit(_work, job, settings)] = job
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    job = running.pop(fut)
                    try:
                        finish(job, *fut.result())
                    except cf.process.BrokenProcessPool:
                        if limit == 1:
                            finish(job, _crash_record(job, settings), None)
                        else:
                            suspects.append(job)
                        broken = True
                if broken:
                    suspects += list(running.values())
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _pool(settings, 2)
                    break
    except KeyboardInterrupt:
        summary.interrupted = True
        _stop(pool)
        raise
    finally:
        bar.close()
        summary.wall_seconds = time.perf_counter() - t0
        if not summary.interrupted:
            pool.shutdown()
    return summary


def _stop(pool) -> None:
    """Stop now: cancel queued files and end the workers; files in flight are simply redone next run."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()


def _crash_record(job: Job, settings: TranscribeSettings) -> dict:
    return {
        "id": job.id, "path": job.path, "sha256": job.sha256, "engine": settings.engine, "model": settings.model,
        "settings_hash": settings.hash(), "status": "error", "audio_seconds": 0.0, "wall_seconds": 0.0, "warnings": [],
        "reason": f"the worker process died while transcribing {job.path} (out of memory or a crash in the decoder); "
        "lower transcribe.max_chunk_minutes or transcribe.workers, or check the file",
    }
