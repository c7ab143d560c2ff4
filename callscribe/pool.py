"""Worker processes, each owning one loaded engine, behind the `concurrent.futures` interface.

The model lives in spawned processes that ignore Ctrl-C, which the parent handles by stopping
them (`stop`), even with one worker: a file that crashes a native decoder or draws the OOM killer
then costs that file, not the run. Only the Apple GPU engine, whose one process owns the GPU,
keeps its model in this process (`InProcessPool`).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import queue
import signal
import threading

from tqdm import tqdm

from callscribe.calls import Job, transcribe_files
from callscribe.engines import Engine, ModelError, load_engine
from callscribe.records import CallRecord, Transcript
from callscribe.settings import TranscribeSettings

_ENGINE: Engine | None = None
_LOAD_ERROR: Exception | None = None
_PROGRESS = None  # where this worker reports each finished piece of a long call


def _init_worker(settings: TranscribeSettings, progress=None) -> None:
    """`progress`: a queue to the parent, or a callback in this process, for each piece of a long call."""
    global _ENGINE, _LOAD_ERROR, _PROGRESS
    _PROGRESS = progress.put if hasattr(progress, "put") else progress
    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
        # tqdm (used inside the model libraries) would create a multiprocessing lock here: a semaphore that a
        # worker stopped by `stop` never releases, which Python reports at exit as "leaked semaphore objects".
        tqdm.set_lock(threading.RLock())
    try:
        _ENGINE = load_engine(settings)
    except Exception as e:  # noqa: BLE001 - reported by the first task, with the file it was for
        _LOAD_ERROR = e


def _work(jobs: list[Job], settings: TranscribeSettings) -> list[tuple[CallRecord, Transcript | None]]:
    if _LOAD_ERROR is not None:
        raise ModelError(f"model {settings.model!r} ({settings.engine}) failed to load: {_LOAD_ERROR}")
    return transcribe_files(_ENGINE, jobs, settings, _PROGRESS)


class InProcessPool:
    """The same interface as a process pool, for one worker: the model lives in this process."""

    def __init__(self, settings: TranscribeSettings, progress=None):
        _init_worker(settings, progress)  # pieces are reported straight to `progress`

    def drain(self) -> None:
        pass

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

    def __init__(self, settings: TranscribeSettings, workers: int, progress=None):
        ctx = multiprocessing.get_context("spawn")
        self.pieces, self.progress = (ctx.Queue() if progress else None), progress
        super().__init__(workers, mp_context=ctx, initializer=_init_worker, initargs=(settings, self.pieces))

    def drain(self) -> None:
        """Pass on to `progress` the pieces the workers reported since the last look."""
        while self.pieces is not None:
            try:
                self.progress(self.pieces.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return

    def submit(self, fn, *args) -> cf.Future:
        # Workers start inside submit. Started with SIGINT blocked, they keep it blocked: a Ctrl-C, which a
        # terminal sends to the whole process group, reaches only this process (which stops them), and no
        # worker prints a traceback. A Ctrl-C meanwhile is delivered here when the mask is restored.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(fn, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def start(settings: TranscribeSettings, n_tasks: int, progress=None) -> InProcessPool | ProcessPool:
    """`progress` gets (call id, audio seconds) for each finished piece of a long call (after `drain`).
    Files are transcribed in worker processes even with one worker, so a native crash costs its file
    only; the Apple GPU engine runs here (one process owns the GPU; forking corrupts Metal)."""
    if settings.cluster != "local":  # the same interface, with Ray actors on every node as workers
        from callscribe.cluster import RayPool

        return RayPool(settings)
    if settings.engine == "mlx-qwen3-asr":
        return InProcessPool(settings, progress)
    return ProcessPool(settings, max(1, min(settings.workers, n_tasks)), progress)


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
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:  # let it close its wake-up pipe now: at exit Python would write to it as it closes (EBADF)
        manager.join(5)
