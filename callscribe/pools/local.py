"""This machine's pools: worker processes (`LocalPool`), or the engine in this process (`InProcessPool`).

The model lives in spawned processes that ignore Ctrl-C, which the parent handles by ending them
(`close(now=True)`), even with one worker: a call that crashes a native decoder or draws the OOM
killer then costs that call, not the run. Only the Apple GPU engine, whose one process owns the
GPU, keeps its model in this process.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import queue
import signal
import threading
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from callscribe.pools.base import WorkerLost
from callscribe.pools.worker import Worker

_WORKER: Worker | None = None  # this worker process's engine owner


def _init(settings, events) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    # tqdm (used inside the model libraries) would create a multiprocessing lock here: a semaphore that a
    # worker ended by `close(now=True)` never releases, which Python reports at exit as "leaked semaphore objects".
    tqdm.set_lock(threading.RLock())
    _WORKER = Worker(settings, progress=events.put)


def _work(group):
    return _WORKER.work(group)


class _Generation:
    """The groups sent to one executor: when a worker dies they all fail, so only a lone one is to blame."""

    def __init__(self, executor):
        self.executor, self.open, self.lost_with = executor, set(), None


class LocalPool:
    """spawn, never fork: fork corrupts Metal contexts on macOS and copies big parents. A worker that dies
    breaks the executor; the next group goes to a new one."""

    isolates = False

    def __init__(self, settings, workers: int):
        self.settings, self.capacity = settings, workers
        self._ctx = multiprocessing.get_context("spawn")
        self._events = self._ctx.Queue()
        self._lock = threading.Lock()
        self._gen: _Generation | None = None
        self._before = {p.pid for p in multiprocessing.active_children()}  # children that are not our workers

    def _fresh(self) -> _Generation:
        if self._gen is not None:
            self._gen.executor.shutdown(wait=False)  # broken: its futures fail by themselves
        executor = cf.ProcessPoolExecutor(self.capacity, mp_context=self._ctx, initializer=_init, initargs=(self.settings, self._events))
        self._gen = _Generation(executor)
        return self._gen

    def submit(self, group, alone: bool = False) -> cf.Future:
        outer = cf.Future()
        # Workers start inside submit. Started with SIGINT blocked, they keep it blocked: a Ctrl-C, which a
        # terminal sends to the whole process group, reaches only this process (which ends them), and no
        # worker prints a traceback. A Ctrl-C meanwhile is delivered here when the mask is restored.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            gen = self._gen if self._gen is not None and self._gen.lost_with is None else self._fresh()
            try:
                inner = gen.executor.submit(_work, group)
            except BrokenProcessPool:  # a worker died since the last look: this group never ran
                gen = self._fresh()
                inner = gen.executor.submit(_work, group)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        with self._lock:
            gen.open.add(outer)
        inner.add_done_callback(lambda f: self._settle(f, outer, gen, alone))
        return outer

    def _settle(self, inner: cf.Future, outer: cf.Future, gen: _Generation, sent_alone: bool) -> None:
        if inner.cancelled():
            outer.cancel()
        error = None if inner.cancelled() else inner.exception()
        with self._lock:
            if isinstance(error, BrokenProcessPool) and gen.lost_with is None:
                gen.lost_with = len(gen.open)
            gen.open.discard(outer)
            alone = sent_alone and gen.lost_with == 1
        if outer.cancelled():
            return
        if isinstance(error, BrokenProcessPool):
            outer.set_exception(WorkerLost(f"a worker process died ({error})", alone=alone))
        elif error is not None:
            outer.set_exception(error)
        else:
            outer.set_result(inner.result())

    def events(self) -> list[tuple[str, float]]:
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return out

    def close(self, now: bool = False) -> None:
        if self._gen is None:
            return
        if now:  # a call in flight would otherwise be waited for: it is redone next run
            self._gen.executor.shutdown(wait=False, cancel_futures=True)
            ours = [p for p in multiprocessing.active_children() if p.pid not in self._before]
            for proc in ours:
                proc.terminate()
            for proc in ours:
                proc.join(5)  # reaped, so no leaked-semaphore warnings at exit
                if proc.is_alive():
                    proc.kill()
        # Waits for the executor's thread too, which closes its wake-up pipe now: at exit Python would write to it as it closes (EBADF).
        self._gen.executor.shutdown(wait=True, cancel_futures=now)


class InProcessPool:
    """One worker, the model in this process (one process owns the Apple GPU); groups run inside submit."""

    capacity, isolates = 1, True

    def __init__(self, settings):
        self._events: list[tuple[str, float]] = []
        self._worker = Worker(settings, progress=self._events.append)

    def submit(self, group, alone: bool = False) -> cf.Future:
        future = cf.Future()
        try:
            future.set_result(self._worker.work(group))
        except BaseException as e:  # noqa: BLE001 - as a worker process would hand it back
            future.set_exception(e)
        return future

    def events(self) -> list[tuple[str, float]]:
        out, self._events[:] = list(self._events), []
        return out

    def close(self, now: bool = False) -> None:
        pass
