"""Worker pools: each loads the engine in its workers (`worker.Worker`) and decodes groups of calls.

`start` picks the pool for the settings: Ray actors on every node of a cluster (`ray`), the engine in
this process for the Apple GPU engine (one process owns the GPU), else worker processes on this
machine (`local`), even with one worker, so that a native crash costs its call only. What they offer
and the rule for finding the call that kills a worker: `base`.
"""

from __future__ import annotations

from callscribe.pools.base import ClusterError, EngineUnavailable, Pool, WorkerLost, after_loss, crash_reason

__all__ = ["ClusterError", "EngineUnavailable", "Pool", "WorkerLost", "after_loss", "crash_reason", "start"]


def start(settings, n_tasks: int) -> Pool:
    if settings.cluster != "local":
        from callscribe.pools.ray import RayPool  # Ray is imported only for a cluster

        return RayPool(settings)
    from callscribe.pools.local import InProcessPool, LocalPool

    if settings.engine == "mlx-qwen3-asr":
        return InProcessPool(settings)
    return LocalPool(settings, max(1, min(settings.workers, n_tasks)))
