"""A pool true to `callscribe.pools.base.Pool`, with scripted calls and no model or process behind it.

Each call does what `script` says (by call id; `ok` when not named):
- `ok`: transcribed, text "words of <id>";
- `kill`: kills the worker holding its group (the group, and on a pool that does not isolate its
  workers every group in flight beside it, fail with `WorkerLost`);
- `raise`: its group raises outside any one call's guard;
- `unavailable`: the engine did not load in the worker its group went to (`EngineUnavailable`);
- `fail:<reason>`: an error record with that reason ("{path}" in it becomes the call's path).

Groups in flight finish together, a moment after the last submit, so that a worker death meets
every group in flight, as with the process pool.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading

from callscribe.calls import new_record
from callscribe.pools.base import EngineUnavailable, WorkerLost
from callscribe.records import ERROR, Segment, Transcript

SETTLE = 0.01  # seconds after a submit when the groups in flight finish


class FakePool:
    def __init__(self, settings, script: dict[str, str] | None = None, capacity: int = 2, isolates: bool = False):
        self.settings, self.script, self.capacity, self.isolates = settings, script or {}, capacity, isolates
        self.submitted: list[list[str]] = []  # call ids per group, in the order given
        self.closed: bool | None = None  # close(now) as called
        self._inflight: list[tuple[list, cf.Future, bool]] = []
        self._lost_before: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def submit(self, group, alone: bool = False) -> cf.Future:
        future = cf.Future()
        with self._lock:
            self.submitted.append([j.id for j in group])
            self._inflight.append((list(group), future, alone))
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(SETTLE, self._settle)
            self._timer.start()
        return future

    def events(self) -> list[tuple[str, float]]:
        return []

    def close(self, now: bool = False) -> None:
        self.closed = now

    def _settle(self) -> None:
        with self._lock:
            inflight, self._inflight = self._inflight, []
        killed = [g for g, _, _ in inflight if any(self.script.get(j.id) == "kill" for j in g)]
        for group, future, sent_alone in inflight:
            ids = tuple(j.id for j in group)
            if group in killed or (killed and not self.isolates):
                alone = (ids in self._lost_before) if self.isolates else sent_alone and len(inflight) == 1
                self._lost_before.add(ids)
                future.set_exception(WorkerLost("a fake worker died", alone=alone))
            elif any(self.script.get(j.id) == "unavailable" for j in group):
                future.set_exception(EngineUnavailable("model 'fake-model' (fake) failed to load: no such file"))
            elif any(self.script.get(j.id) == "raise" for j in group):
                future.set_exception(RuntimeError("raised outside the calls' guards"))
            else:
                future.set_result([self._result(j) for j in group])

    def _result(self, job):
        s = self.settings
        record = new_record(job, "fake", "fake-model", {"fake": "1"}, s, audio_seconds=job.duration, wall_seconds=0.1,
                            cpu_seconds=0.1)
        what = self.script.get(job.id, "ok")
        if what.startswith("fail:"):
            record.status, record.reason, record.audio_seconds = ERROR, what[5:].replace("{path}", job.path), 0.0
            return record, None
        text = f"words of {job.id}"
        return record, Transcript(text, "en", job.duration, [Segment(0.0, job.duration, text)])


def install(monkeypatch, script=None, **kw) -> list[FakePool]:
    """Every pool the runner starts is a FakePool with this script; returns the list they are added to."""
    from callscribe import pools

    started: list[FakePool] = []

    def start(settings, n_tasks):
        started.append(FakePool(settings, script, **kw))
        return started[-1]

    monkeypatch.setattr(pools, "start", start)
    return started
