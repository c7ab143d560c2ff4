"""What every worker pool offers the runner, and the one rule for finding the call that kills a worker.

A pool takes a group of calls (`submit`) and gives a future of one (record, transcript or None) per
call. Its errors are typed: `WorkerLost` (the worker holding the group died), `EngineUnavailable`
(the engine did not load: every call would fail alike) and `ClusterError` (the Ray cluster cannot be
reached or went away). Anything else a future raises was raised outside any one call's guard.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import TYPE_CHECKING, Protocol

from callscribe.engines import ModelError

if TYPE_CHECKING:
    from callscribe.calls import Job


class WorkerLost(Exception):
    """The worker holding a group died (out of memory, a crash in the decoder, its node lost).
    `alone`: the group is known to be the cause (it ran alone, or it was lost twice)."""

    def __init__(self, message: str, alone: bool):
        super().__init__(message)
        self.alone = alone

    def __reduce__(self):
        return type(self), (str(self), self.alone)


class EngineUnavailable(ModelError):
    """The engine did not load in a worker; the message names the model and why."""


class ClusterError(Exception):
    """The Ray cluster cannot be reached or went away; the message says what to do."""

    def __init__(self, message: str, lost: bool = False):
        super().__init__(message)
        self.lost = lost  # the head went away mid-run

    def __reduce__(self):
        return type(self), (str(self), self.lost)


class Pool(Protocol):
    capacity: int  # groups it decodes at once (workers, or actors on the cluster)
    isolates: bool  # a lost worker fails only the group it held (Ray actors), not every group in flight

    def submit(self, group: list[Job], alone: bool = False) -> cf.Future:
        """The future gives (record, transcript or None) per call of `group`, in order. `alone`: nothing
        else runs beside it (the caller waits for the rest first), so a worker lost with it is its doing."""

    def events(self) -> list[tuple[str, float]]:
        """(call id, audio seconds) for each piece of a long call finished since the last look."""

    def close(self, now: bool = False) -> None:
        """`now`: cancel what is queued and end the workers (calls in flight are redone next run)."""


def crash_reason(path: str) -> str:
    """The record's reason for the call found to kill its worker."""
    return (f"the worker process died while transcribing {path} (out of memory or a crash in the decoder); "
            "lower transcribe.max_chunk_minutes or transcribe.workers, or check the file")


def after_loss(group: list[Job], lost: WorkerLost) -> list[list[Job]]:
    """What to run again after `lost`: the group whole (it may be innocent: another group or the node
    was the cause), else its halves, until one call is left; [] when that call is the culprit. Groups
    to run again go alone where the pool does not isolate its workers, so the next loss is theirs."""
    if not lost.alone:
        return [group]
    if len(group) == 1:
        return []
    half = len(group) // 2
    return [group[:half], group[half:]]
