"""A batch of calls in one process: `Job`s -> (`CallRecord`, `Transcript` or None) each.

Loads each call's audio, packs short mono calls together when the engine can, hands the rest to
`transcribe.transcribe_calls` (their pieces decoded in batches where the engine batches), and turns
every outcome (bad audio, a decoder that raised) into a record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from callscribe import __version__
from callscribe.audio import SAMPLE_RATE, AudioError, load_audio
from callscribe.engines import Engine
from callscribe.packing import transcribe_packed
from callscribe.records import ERROR, NO_SPEECH, NO_WORDS, OK, CallRecord, Transcript
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import NO_WORDS_WARNING, transcribe_calls


@dataclass
class Job:
    id: str  # unique key: the output is written to <out>/<id>.json
    path: str
    sha256: str
    duration: float = 0.0  # seconds if known: orders the work and drives the ETA


def new_record(job: Job, engine: str, model: str, versions: dict, settings: TranscribeSettings, **kw) -> CallRecord:
    return CallRecord(job.id, job.path, job.sha256, engine, model, {"callscribe": __version__, **versions}, settings.hash(), **kw)


def transcribe_files(engine: Engine, jobs: list[Job], settings: TranscribeSettings,
                     progress: Callable[[tuple[str, float]], None] | None = None) -> list[tuple[CallRecord, Transcript | None]]:
    """Calls -> (journal record, transcript or None) each. Never raises for bad audio. `progress` gets
    (call id, audio seconds) for each finished piece of a call cut in several (the progress bar)."""
    t0, model_t0 = time.perf_counter(), engine.model_seconds
    cpu0 = time.process_time()  # CPU time of this worker: unlike wall time, other load on the machine hardly moves it
    records = [new_record(job, engine.name, engine.model, engine.versions, settings) for job in jobs]
    audios = []
    for job, record in zip(jobs, records):
        try:
            audios.append(load_audio(job.path))
        except Exception as e:  # noqa: BLE001 - whatever a damaged file makes a decoder raise, it is this file's record
            audios.append(None)
            why = e if isinstance(e, (AudioError, OSError)) else f"{type(e).__name__}: {e}"
            _failed(record, f"cannot decode {job.path}: {why}. Check that the file plays; re-export it or leave it out "
                    "with the filter params.")
    results: dict[int, tuple[Transcript, list[str]] | Exception] = {}
    packable = [i for i, a in enumerate(audios)  # short mono calls; longer ones share a task only to be batched
                if a is not None and a.shape[0] == 1 and 0 < a.shape[1] <= settings.pack_seconds * SAMPLE_RATE]
    packing_failed = None
    if len(packable) > 1 and engine.supports_packing:
        try:
            results.update(zip(packable, transcribe_packed(engine, [audios[i][0] for i in packable], settings)))
        except Exception as e:  # noqa: BLE001 - each call is tried on its own below, where a failure is recorded
            packing_failed = f"packed decoding failed ({type(e).__name__}: {e}); transcribed on its own"
    rest = [i for i, a in enumerate(audios) if a is not None and i not in results]
    report = None if progress is None else (lambda k, seconds: progress((jobs[rest[k]].id, seconds)))
    results.update(zip(rest, transcribe_calls(engine, [audios[i] for i in rest], settings, report)))
    for i in list(results):
        if isinstance(results[i], Exception):  # it raised here, or inside the packed window (the others there are done)
            e = results.pop(i)
            _failed(records[i], f"transcription failed on {jobs[i].path} ({type(e).__name__}: {e}); if it ran out of memory lower "
                    "transcribe.max_chunk_minutes or transcribe.workers, else check that the file plays")
        elif packing_failed and i in packable:
            results[i][1].insert(0, packing_failed)
    total_audio = sum(t.duration for t, _ in results.values()) or 1.0
    wall, in_model, cpu = time.perf_counter() - t0, engine.model_seconds - model_t0, time.process_time() - cpu0
    out = []
    for i, record in enumerate(records):
        transcript = None
        if i in results:
            transcript, record.warnings = results[i]
            record.status, record.reason = _status(transcript, record.warnings)
            record.audio_seconds = transcript.duration
        # Packed calls share their decoding time in proportion to their audio.
        share = transcript.duration / total_audio if transcript else 0.0
        record.wall_seconds, record.model_seconds = round(wall * share, 3), round(in_model * share, 3)
        record.cpu_seconds = round(cpu * share, 3)
        out.append((record, transcript))
    return out


def _status(transcript: Transcript, warnings: list[str]) -> tuple[str, str | None]:
    """ok, or why there is no text: no voice found (no_speech), voice and no words (no_words), no audio."""
    if transcript.text:
        return OK, None
    if not transcript.duration:
        return NO_SPEECH, "the file holds no audio (0 s)"
    if any(w.endswith(NO_WORDS_WARNING) for w in warnings):
        return NO_WORDS, "voice was found but the decoder wrote no words: listen to the call"
    return NO_SPEECH, "no speech detected"


def transcribe_file(engine: Engine, job: Job, settings: TranscribeSettings) -> tuple[CallRecord, Transcript | None]:
    """One call -> (journal record, transcript or None)."""
    return transcribe_files(engine, [job], settings)[0]


def _failed(record: CallRecord, reason: str) -> None:
    record.status, record.reason, record.audio_seconds, record.warnings = ERROR, reason, 0.0, []
