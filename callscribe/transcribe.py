"""Transcription of many files: the one place where audio meets a model and records are written.

`transcribe_file` turns one call into a `Transcript` (cutting long calls at pauses so memory stays
bounded); `run` drives a pool of worker processes over a list of `Job`s, writes each call's JSON
atomically, then its journal line, and skips what the journal says is done.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import functools
import multiprocessing
import signal
import sys
import time
import zlib
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from callscribe import __version__, diarize
from callscribe.audio import SAMPLE_RATE, AudioError, load_audio, to_mono
from callscribe.journal import Journal, is_done
from callscribe.outputs import check_writable, output_error, remove_stale_temp_files, write_transcript
from callscribe.records import Segment, Transcript, Word
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
    return _with_speakers(transcript, mono, settings), warnings


def _with_speakers(transcript: Transcript, mono: np.ndarray, settings: TranscribeSettings) -> Transcript:
    """Speaker turns on a mono call's segments and words, when diarization is on."""
    if settings.diarize and transcript.segments:
        turns = diarize.diarizer().turns(mono, settings.speakers)
        transcript.segments = diarize.name_parties(diarize.assign_speakers(transcript.segments, turns), settings.channel_names)
        transcript.speakers = diarize.talk_time(transcript.segments)
    return transcript


def _transcribe_mono(engine, mono: np.ndarray, settings: TranscribeSettings) -> tuple[Transcript, list[str]]:
    duration = len(mono) / SAMPLE_RATE
    segments: list[Segment] = []
    warnings: list[str] = []
    language = settings.language
    cuts = pieces(mono, settings.max_chunk_minutes * 60)
    for start, end in cuts:
        offset = start / SAMPLE_RATE
        segs, language = engine.transcribe(mono[start:end], settings)
        warning = repetition_warning(" ".join(s.text for s in segs), (end - start) / SAMPLE_RATE) or getattr(engine, "runaway", None)
        if warning:
            retry, language = engine.transcribe(mono[start:end], settings, safer=True)
            again = repetition_warning(" ".join(s.text for s in retry), (end - start) / SAMPLE_RATE) or getattr(engine, "runaway", None)
            warnings.append(f"{warning} at {offset:.0f} s; retried with safer decoding" + (f", still {again}" if again else ""))
            if not again or len(" ".join(s.text for s in retry)) < len(" ".join(s.text for s in segs)):
                segs = retry
        segments += [s.shifted(offset) for s in segs]
        if len(cuts) > 1:
            release_memory()
    text = " ".join(s.text for s in segments if s.text).strip()
    return Transcript(text=text, language=language, duration=round(duration, 3), segments=segments), warnings


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS): its allocator returns memory by itself
        return None


def release_memory() -> None:
    """Hand freed heap back to the system between the pieces of a long call. glibc keeps it, so
    each piece would add to the peak (measured: +110 MB a 5-minute piece) instead of reusing it."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


PACK_GAP = 2.0  # seconds of silence between packed calls: Whisper hears a pause, not a run-on


def transcribe_packed(engine, monos: list[np.ndarray], settings: TranscribeSettings) -> list[tuple[Transcript, list[str]]]:
    """Short mono calls decoded as one tape, so one 30 s window serves several calls instead of
    each being padded to 30 s. Words go back to their call by time; any call whose text looks
    wrong is redone on its own."""
    from callscribe.vad import speech_regions

    # After every call, the last too: a tape that stops mid-word loses that call's words.
    gap = np.zeros(int(PACK_GAP * SAMPLE_RATE), np.float32)
    parts, spans = [], []  # spans: (item, tape start, tape end, source start), in samples
    cursor = 0
    for i, mono in enumerate(monos):
        regions = speech_regions(mono) if settings.vad else [(0, len(mono))]
        if not regions:
            continue  # nothing to decode: no_speech below
        start, end = regions[0][0], regions[-1][1]
        spans.append((i, cursor, cursor + end - start, start))
        parts += [mono[start:end], gap]
        cursor += end - start + len(gap)
    tape_seg_of: list = [None for _ in monos]  # the tape segment each call's last segment came from
    segs_of: list[list[Segment]] = [[] for _ in monos]
    language = settings.language
    if spans:
        segs, language = engine.transcribe(np.concatenate(parts), settings, packed=True)
        for seg in segs:
            # Whisper's segment times (timestamp tokens) are surer than its word times: a segment
            # lying mostly in one call goes to it whole; only a straddling one is split by word.
            owner = _span_holding(spans, seg.start, seg.end)
            for w in seg.words or []:
                sp = owner or _span_of_word(spans, w.start, w.end)
                item, t0, t1, src = sp
                shift = (src - t0) / SAMPLE_RATE
                lo, hi = src / SAMPLE_RATE, (src + t1 - t0) / SAMPLE_RATE
                word = Word(round(min(max(w.start + shift, lo), hi), 3), round(min(max(w.end + shift, lo), hi), 3), w.word, w.probability)
                if tape_seg_of[item] is not seg:  # a new segment where the tape segment or the call changes
                    segs_of[item].append(Segment(word.start, word.end, "", [], avg_logprob=seg.avg_logprob,
                                                 no_speech_prob=seg.no_speech_prob, compression_ratio=seg.compression_ratio))
                    tape_seg_of[item] = seg
                out = segs_of[item][-1]
                out.words.append(word)
                out.end = word.end
                out.text = (out.text + word.word) if out.text else word.word.strip()
    results = []
    for i, mono in enumerate(monos):
        duration = len(mono) / SAMPLE_RATE
        text = " ".join(s.text for s in segs_of[i]).strip()
        if repetition_warning(text, duration):
            results.append(transcribe_audio(engine, mono[None, :], settings))
            continue
        transcript = _with_speakers(Transcript(text, language, round(duration, 3), segs_of[i]), mono, settings)
        if not settings.timestamps:  # words were needed to place the calls and speakers, not to keep
            for seg in transcript.segments:
                seg.words = None
        results.append((transcript, []))
    return results


def _span_holding(spans, start: float, end: float, share: float = 0.8):
    """The packed call holding at least `share` of [start, end] (seconds on the tape), if any."""
    a, b = start * SAMPLE_RATE, end * SAMPLE_RATE
    for sp in spans:
        if b > a and (min(b, sp[2]) - max(a, sp[1])) >= share * (b - a):
            return sp
    return None


def _span_of_word(spans, start: float, end: float):
    """The packed call a word belongs to, judged by where it ends: DTW stretches a call's first
    word back across the silence before it, but its end stays where the speech is. A word
    ending in a gap is the previous call's tail."""
    x = end * SAMPLE_RATE - SAMPLE_RATE // 50
    before = [sp for sp in spans if sp[1] <= x]
    return before[-1] if before else spans[0]


def transcribe_files(engine, jobs: list[Job], settings: TranscribeSettings) -> list[tuple[dict, Transcript | None]]:
    """Calls -> (journal record, transcript or None) each. Never raises for bad audio.

    Several short mono calls are packed together when the engine supports it."""
    t0, model_t0 = time.perf_counter(), getattr(engine, "model_seconds", 0.0)
    base = {"engine": engine.name, "model": engine.model, "versions": {"callscribe": __version__, **engine.versions},
            "settings_hash": settings.hash()}
    records, audios = [], []
    for job in jobs:
        records.append({"id": job.id, "path": job.path, "sha256": job.sha256, **base})
        try:
            audios.append(load_audio(job.path))
        except (AudioError, OSError) as e:
            audios.append(None)
            reason = f"cannot decode {job.path}: {e}. Check that the file plays; re-export it or leave it out with the filter params."
            records[-1].update(status="error", reason=reason, audio_seconds=0.0, warnings=[])
    results: dict[int, tuple[Transcript, list[str]]] = {}
    packable = [i for i, a in enumerate(audios) if a is not None and a.shape[0] == 1 and a.shape[1]]
    if len(packable) > 1 and getattr(engine, "supports_packing", False):
        try:
            results.update(zip(packable, transcribe_packed(engine, [audios[i][0] for i in packable], settings)))
        except Exception:  # noqa: BLE001 - each call is tried on its own below, where a failure is recorded
            pass
    for i, audio in enumerate(audios):
        if audio is None or i in results:
            continue
        try:
            results[i] = transcribe_audio(engine, audio, settings)
        except Exception as e:  # noqa: BLE001 - one file's failure (MemoryError, a decoder error) must not stop the run
            records[i].update(status="error", audio_seconds=0.0, warnings=[], reason=(
                f"transcription failed on {jobs[i].path} ({type(e).__name__}: {e}); if it ran out of memory lower "
                "transcribe.max_chunk_minutes or transcribe.workers, else check that the file plays"))
    out = []
    total_audio = sum(t.duration for t, _ in results.values()) or 1.0
    wall = time.perf_counter() - t0
    in_model = getattr(engine, "model_seconds", 0.0) - model_t0
    for i, record in enumerate(records):
        transcript = None
        if i in results:
            transcript, warnings = results[i]
            reason = None if transcript.text else "no speech detected" if transcript.duration else "the file holds no audio (0 s)"
            record.update(status="ok" if transcript.text else "no_speech", reason=reason, audio_seconds=transcript.duration, warnings=warnings)
        # Packed calls share their decoding time in proportion to their audio.
        share = transcript.duration / total_audio if transcript else 0.0
        record.update(wall_seconds=round(wall * share, 3), model_seconds=round(in_model * share, 3))
        out.append((record, transcript))
    return out


def transcribe_file(engine, job: Job, settings: TranscribeSettings) -> tuple[dict, Transcript | None]:
    """One call -> (journal record, transcript or None)."""
    return transcribe_files(engine, [job], settings)[0]


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


def _work(jobs: list[Job], settings: TranscribeSettings):
    if _LOAD_ERROR is not None:
        raise RuntimeError(f"model {settings.model!r} ({settings.engine}) failed to load: {_LOAD_ERROR}")
    return [(record, t.to_dict() if t else None) for record, t in transcribe_files(_ENGINE, jobs, settings)]


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


def _submit(pool, jobs: list[Job], settings: TranscribeSettings) -> cf.Future:
    if isinstance(pool, _InProcessPool):
        return pool.submit(_work, jobs, settings)
    # Workers start inside submit. Started with SIGINT blocked, they keep it blocked: a Ctrl-C, which a
    # terminal sends to the whole process group, reaches only this process (which stops them), and no
    # worker prints a traceback. A Ctrl-C meanwhile is delivered here when the mask is restored.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(_work, jobs, settings)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _pool(settings: TranscribeSettings, n_jobs: int):
    if settings.workers <= 1 or n_jobs <= 1:
        return _InProcessPool(settings)
    # spawn, never fork: fork corrupts Metal contexts on macOS and copies big parents.
    ctx = multiprocessing.get_context("spawn")
    return cf.ProcessPoolExecutor(min(settings.workers, n_jobs), mp_context=ctx, initializer=_init_worker, initargs=(settings,))


# --- many calls -----------------------------------------------------------------------------

PACK_GROUP_SECONDS = 60.0  # audio per group of packed short calls: a few windows, little lost to Ctrl-C


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
    journal = Journal(out_dir / "journal.jsonl")
    done = journal.entries() if resume else {}
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

    def finish(job: Job, record: dict, transcript: dict | None) -> None:
        try:
            if transcript is not None:
                write_transcript(Transcript.from_dict(transcript), out_dir / job.id, formats)
                record["json"] = f"{job.id}.json"
            record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            journal.append(record)  # last: a record exists only once its outputs do
        except OSError as e:  # full disk, read-only: every later file would fail alike, so stop
            raise output_error(out_dir, e) from e
        summary.counts[record["status"]] += 1
        summary.audio_seconds += record["audio_seconds"]
        bar.update(min(job.duration, bar.total - bar.n))
        bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(summary.counts.items())), refresh=False)

    queue, suspects = list(reversed(groups(todo, settings.pack_seconds))), []
    pool = _pool(settings, len(queue))
    try:
        while queue or suspects:
            # After a worker died, run the files it may have held one at a time to find the culprit.
            batch, limit = (suspects, 1) if suspects else (queue, 2 * settings.workers)
            running: dict[cf.Future, list[Job]] = {}
            broken = False
            while batch or running:
                while batch and len(running) < limit:
                    group = batch.pop()
                    running[_submit(pool, group, settings)] = group
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    group = running.pop(fut)
                    try:
                        results = fut.result()
                    except BrokenProcessPool:
                        if limit == 1 and len(group) == 1:
                            finish(group[0], _crash_record(group[0], settings), None)
                        else:
                            suspects += [[job] for job in group]
                        broken = True
                        continue
                    for job, (record, transcript) in zip(group, results):
                        finish(job, record, transcript)
                if broken:
                    suspects += [[job] for group in running.values() for job in group]
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _pool(settings, 2)
                    break
    except BaseException:  # Ctrl-C, an unwritable output folder: stop the workers now, not after their files
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
    for proc in procs:
        proc.join(5)  # reaped, so no leaked-semaphore warnings at exit


def _crash_record(job: Job, settings: TranscribeSettings) -> dict:
    return {
        "id": job.id, "path": job.path, "sha256": job.sha256, "engine": settings.engine, "model": settings.model,
        "settings_hash": settings.hash(), "status": "error", "audio_seconds": 0.0, "wall_seconds": 0.0, "warnings": [],
        "reason": f"the worker process died while transcribing {job.path} (out of memory or a crash in the decoder); "
        "lower transcribe.max_chunk_minutes or transcribe.workers, or check the file",
    }
