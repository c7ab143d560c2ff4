"""A batch of calls in one process: `Job`s -> (`CallRecord`, `Transcript` or None) each.

Loads each call's audio, packs short mono calls together when the engine can, transcribes the
rest one by one, and turns every outcome (bad audio, a decoder that raised) into a record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from callscribe import __version__
from callscribe.audio import SAMPLE_RATE, AudioError, load_audio
from callscribe.engines import Engine
from callscribe.packing import transcribe_packed
from callscribe.records import ERROR, NO_SPEECH, OK, CallRecord, Transcript
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import mono_parts, transcribe_audio


@dataclass
class Job:
    id: str  # unique key: the output is written to <out>/<id>.json
    path: str
    sha256: str
    duration: float = 0.0  # seconds if known: orders the work and drives the ETA


def new_record(job: Job, engine: str, model: str, versions: dict, settings: TranscribeSettings, **kw) -> CallRecord:
    return CallRecord(job.id, job.path, job.sha256, engine, model, {"callscribe": __version__, **versions}, settings.hash(), **kw)


def transcribe_files(engine: Engine, jobs: list[Job], settings: TranscribeSettings) -> list[tuple[CallRecord, Transcript | None]]:
    """Calls -> (journal record, transcript or None) each. Never raises for bad audio."""
    t0, model_t0 = time.perf_counter(), engine.model_seconds
    records = [new_record(job, engine.name, engine.model, engine.versions, settings) for job in jobs]
    audios = []
    for job, record in zip(jobs, records):
        try:
            audios.append(load_audio(job.path))
        except (AudioError, OSError) as e:
            audios.append(None)
            _failed(record, f"cannot decode {job.path}: {e}. Check that the file plays; re-export it or leave it out "
                    "with the filter params.")
    results: dict[int, tuple[Transcript, list[str]]] = {}
    packable = [i for i, a in enumerate(audios) if a is not None and a.shape[0] == 1 and a.shape[1]]
    packing_failed = None
    if len(packable) > 1 and engine.supports_packing:
        try:
            results.update(zip(packable, transcribe_packed(engine, [audios[i][0] for i in packable], settings)))
        except Exception as e:  # noqa: BLE001 - each call is tried on its own below, where a failure is recorded
            packing_failed = f"packed decoding failed ({type(e).__name__}: {e}); transcribed on its own"
    if len(jobs) > 1 and hasattr(engine, "prefetch"):  # batched Qwen3-ASR: these calls' windows decode together
        parts = [p for i, a in enumerate(audios) if a is not None and i not in results for p in mono_parts(a, settings)]
        try:
            engine.prefetch([p for p in parts if 0 < len(p) <= settings.max_chunk_minutes * 60 * SAMPLE_RATE], settings)
        except Exception:  # noqa: BLE001, S110 - each call is then decoded on its own below
            pass
    for i, audio in enumerate(audios):
        if audio is None or i in results:
            continue
        try:
            transcript, warnings = transcribe_audio(engine, audio, settings)
            results[i] = transcript, ([packing_failed] if packing_failed and i in packable else []) + warnings
        except Exception as e:  # noqa: BLE001 - one file's failure (MemoryError, a decoder error) must not stop the run
            _failed(records[i], f"transcription failed on {jobs[i].path} ({type(e).__name__}: {e}); if it ran out of memory lower "
                    "transcribe.max_chunk_minutes or transcribe.workers, else check that the file plays")
    total_audio = sum(t.duration for t, _ in results.values()) or 1.0
    wall, in_model = time.perf_counter() - t0, engine.model_seconds - model_t0
    out = []
    for i, record in enumerate(records):
        transcript = None
        if i in results:
            transcript, record.warnings = results[i]
            record.status = OK if transcript.text else NO_SPEECH
            record.reason = None if transcript.text else "no speech detected" if transcript.duration else "the file holds no audio (0 s)"
            record.audio_seconds = transcript.duration
        # Packed calls share their decoding time in proportion to their audio.
        share = transcript.duration / total_audio if transcript else 0.0
        record.wall_seconds, record.model_seconds = round(wall * share, 3), round(in_model * share, 3)
        out.append((record, transcript))
    return out


def transcribe_file(engine: Engine, job: Job, settings: TranscribeSettings) -> tuple[CallRecord, Transcript | None]:
    """One call -> (journal record, transcript or None)."""
    return transcribe_files(engine, [job], settings)[0]


def _failed(record: CallRecord, reason: str) -> None:
    record.status, record.reason, record.audio_seconds, record.warnings = ERROR, reason, 0.0, []
