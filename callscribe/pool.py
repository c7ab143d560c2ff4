"""Worker processes, each owning one loaded engine, behind the `concurrent.futures` interface.

With one worker the model lives in this process (`InProcessPool`); else in spawned processes
that ignore Ctrl-C, which the parent handles by stopping them (`stop`).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal

from callscribe.calls import Job, transcribe_files
from callscribe.engines import Engine, load_engine
from callscribe.records import CallRecord, Transcript
from callscribe.settings import TranscribeSettings

_ENGINE: Engine | None = None
_LOAD_ERROR: Exception | None = None


def _init_worker(settings: TranscribeSettings) -> None:
    global _ENGINE, _LOAD_ERROR
    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    try:
        _ENGINE = load_engine(settings)
    except Exception as e:  # noqa: BLE001 - reported by the first task, with the file it was for
        _LOAD_ERROR = e


def _work(jobs: list[Job], settings: TranscribeSettings) -> list[tuple[CallRecord, Transcript | None]]:
    if _LOAD_ERROR is not None:
        raise RuntimeError(f"model {settings.model!r} ({settings.engine}) failed to load: {_LOAD_ERROR}")
    return transcribe_files(_ENGINE, jobs, settings)


class InProcessPool:
    """The same interface as a process pool, for one worker: the model lives in this process."""

    def __init__(self, settings: TranscribeSettings):
        _init_worker(settings)

    def submit(self, fn, *args) -> cf.Future:
        f = cf.Future()
        try:
            f.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001
            f.set_exception(e)
        return f

    def shutdown(self, **_) -> None:
        pass


class ProcessPool(cf.ProcessPoolExecutor):
    """spawn, never fork: fork corrupts Metal contexts on macOS and copies big parents."""

    def __init__(self, settings: TranscribeSettings, workers: int):
        super().__init__(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(settings,))

    def submit(self, fn, *args) -> cf.Future:
        # Workers start inside submit. Started with SIGINT blocked, they keep it blocked: a Ctrl-C, which a
        # terminal sends to the whole process group, reaches only this process (which stops them), and no
        # worker prints a traceback. A Ctrl-C meanwhile is delivered here when the mask is restored.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(fn, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def start(settings: TranscribeSettings, n_tasks: int) -> InProcessPool | ProcessPool:
    if settings.workers <= 1 or n_tasks <= 1:
        return InProcessPool(settings)
    return ProcessPool(settings, min(settings.workers, n_tasks))


def submit(pool: InProcessPool | ProcessPool, jobs: list[Job], settings: TranscribeSettings) -> cf.Future:
    """Transcribe `jobs` in one worker; the future gives (record, transcript or None) per job."""
    return pool.submit(_work, jobs, settings)


def stop(pool: InProcessPool | ProcessPool) -> None:
    """Stop now: cancel queued files and end the workers; files in flight are simply redone next run."""
    procs = list((pool._processes or {}).values()) if isinstance(pool, ProcessPool) else []  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(5)  # reaped, so no leaked-semaphore warnings at exit
