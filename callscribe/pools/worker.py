"""The engine owner that both pools run: in each worker process of the local pool, and as the Ray actor.

It loads the engine once and remembers why it did not load, so that each group sent to it gets that
reason (`EngineUnavailable`) with the model named, instead of a traceback per call.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from callscribe.calls import Job, transcribe_files
from callscribe.engines import load_engine
from callscribe.pools.base import EngineUnavailable


class Worker:
    def __init__(self, settings, node: bool = False, progress=None):
        """`node`: on a cluster, each record says which machine ran it, and the audio comes as bytes.
        `progress`: gets (call id, audio seconds) for each finished piece of a long call."""
        self.settings, self.engine, self.error, self.node, self.progress = settings, None, None, node, progress
        if node:
            _as_a_local_worker()
        try:
            self.engine = load_engine(settings)
        except Exception as e:  # noqa: BLE001 - reported with each group sent here
            self.error = f"{type(e).__name__}: {e}" if node else str(e)

    def ready(self) -> tuple[str, str | None]:
        """This machine's name, and why the engine did not load (None when it did)."""
        return socket.gethostname(), self.error

    def work(self, jobs: list[Job], blobs: list[bytes | None] | None = None) -> list:
        """`blobs`: each call's audio (None: read it from its path, a shared disk)."""
        if self.error is not None:
            where = f" on {socket.gethostname()}" if self.node else ""
            raise EngineUnavailable(f"model {self.settings.model!r} ({self.settings.engine}) failed to load{where}: {self.error}")
        if blobs is None:
            return transcribe_files(self.engine, jobs, self.settings, self.progress)
        with tempfile.TemporaryDirectory(prefix="callscribe-") as tmp:
            local = []
            for i, (job, blob) in enumerate(zip(jobs, blobs)):
                if blob is None:
                    local.append(job)
                    continue
                path = Path(tmp) / f"{i}{Path(job.path).suffix}"
                path.write_bytes(blob)
                local.append(Job(job.id, str(path), job.sha256, job.duration))
            results = transcribe_files(self.engine, local, self.settings, self.progress)
        for job, copy, (record, _) in zip(jobs, local, results):
            record.path = job.path  # the driver's path, in the record and in any reason
            if record.reason:
                record.reason = record.reason.replace(copy.path, job.path)
            if self.node:
                record.node = socket.gethostname()  # which machine ran it (the engine and device are beside it)
        return results


def _as_a_local_worker() -> None:
    """Ray starts its workers with OMP_NUM_THREADS set to the actor's CPUs; a local pool's worker has the
    libraries' own default (a BLAS thread per core). The thread count changes the sums of the audio
    features, and so the decoded text: an actor takes the local default, so a call comes out the same."""
    import threadpoolctl

    os.environ.pop("OMP_NUM_THREADS", None)  # for the libraries not loaded yet (CTranslate2, onnxruntime)
    threadpoolctl.threadpool_limits(limits=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                                    user_api="blas")
