"""Transcription on a Ray cluster: the pool's shape (submit a group of calls, get a future of its
records), with the work done by `Worker` actors on every node (`callscribe.pools.cluster` says which).

- Audio goes to the workers as bytes: the driver reads each file and sends it with the task. Nodes
  need not share a disk (an office's Macs, rented Linux boxes), and the phone system's GSM audio is
  ~1.6 kB a second (a 1-hour call is 6 MB), small beside the decoding it feeds. A file the driver
  cannot read is decoded from its path on the worker (a shared disk), which gives its error record.
- The driver stays the only writer: results come back to `callscribe.runner`, which writes each call
  as its group finishes, so Ctrl-C, kills and resume are as with the local pool.
- Faults: a worker process that dies is restarted on its node by Ray and the group it held is run
  again there (`max_restarts`, `max_task_retries`). When that fails too, or the actor's node is lost
  (Ray cannot restart an actor pinned to a dead node), the group is lost: the first time not alone
  (the node may be to blame; it goes whole to another node where there is one), the second time alone
  (`callscribe.pools.base.after_loss` then halves it until the culprit is found).
- Idle actors with nothing left to do give their cores back after a few seconds, so that another
  run on the same cluster (another shard's stage) can use them while this one finishes its last calls.
- The cluster gone (its head node stopped): the run ends with `ClusterError`; finished calls are in
  the journal and the next run resumes from there.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import contextlib
import socket
import sys
import threading
import time
from pathlib import Path

from callscribe.engines import ModelError
from callscribe.pools import cluster
from callscribe.pools.base import ClusterError, EngineUnavailable, WorkerLost
from callscribe.pools.worker import Worker

MAX_RESTARTS = 4  # worker processes restarted in place per actor, before the actor is given up
TASK_RETRIES = 1  # a group is retried once on its restarted actor before the pool sees it fail
NODE_DEATHS = 3  # actors lost for good on one node before that node gets no more
POLL_SECONDS = 0.5
GCS_CHECK_EVERY, GCS_MISSES = 2.0, 3  # the head unreachable this many checks in a row: the cluster is gone
IDLE_RELEASE = 5.0  # seconds an actor stays idle with nothing to do before it gives its cores back
NEW_NODES_EVERY = 10.0  # seconds between looks for nodes that joined (or came back)


class _Task:
    def __init__(self, jobs, future, avoid=None):
        self.jobs, self.future, self.avoid = jobs, future, avoid  # avoid: the node it was lost with


class RayPool:
    isolates = True  # an actor's death fails only the group it held

    def __init__(self, settings):
        ray = cluster.import_ray()
        self.ray, self.settings = ray, settings
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._affinity = NodeAffinitySchedulingStrategy
        where = cluster.address(settings.cluster)
        cluster.join(ray, where)
        # The head's GCS, checked every few seconds: when it is gone Ray waits a minute, then ends the
        # process; checking it ourselves ends the run in seconds, with a message (Ray Client raises itself).
        self._gcs = None if where.startswith("ray://") else ray.get_runtime_context().gcs_address
        self._actor_class = ray.remote(Worker)
        self._plan = cluster.NodePlan(ray, self._affinity, settings.engine_choices())
        self._lock = threading.Condition()
        self._futures_lock = threading.Lock()
        self._futures: set = set()  # every future not done yet, for _fail
        self._waiting: collections.deque[_Task] = collections.deque()
        self._idle: list = []  # ready actors with nothing to do
        self._starting: dict = {}  # ready() ref -> actor
        self._running: dict = {}  # work ref -> (task, actor)
        self._node_of: dict = {}  # actor -> node id
        self._where: dict = {}  # node id -> its address, for messages
        self._load_errors: list[str] = []
        self._settings_of: dict = {}  # actor -> the settings it runs with (its engine's)
        self._deaths: collections.Counter = collections.Counter()  # node id -> actors lost for good
        self._idle_since: dict = {}  # actor -> when it last became idle
        self._failures: collections.Counter = collections.Counter()  # actor -> tasks failed in a row
        self._lost_once: dict = {}  # a group's call ids -> the node it was first lost with
        self._closed = False
        self._lost_cluster = False
        self._error: Exception | None = None
        self._last_look = 0.0
        self.capacity = self._add_actors()
        if not self.capacity:
            ray.shutdown()
            raise ClusterError(cluster.no_node_message(where, self._plan.choices))
        self._thread = threading.Thread(target=self._loop, name="callscribe-ray", daemon=True)
        self._thread.start()
        if self._gcs:
            threading.Thread(target=self._watch_head, name="callscribe-ray-head", daemon=True).start()

    # --- the pool's interface (callscribe.pools.base.Pool) ----------------------------------

    def submit(self, group, alone: bool = False) -> cf.Future:
        """`alone` changes nothing here: an actor's death is its group's, and a group is blamed once lost twice."""
        future = cf.Future()
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        with self._lock:
            if self._error is not None:
                future.set_exception(self._error)
            else:
                self._waiting.append(_Task(list(group), future, self._lost_once.get(tuple(j.id for j in group))))
                self._lock.notify()
        return future

    def events(self) -> list[tuple[str, float]]:
        return []  # on Ray a call moves the bar when its group is done

    def _forget(self, future) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def close(self, now: bool = False) -> None:
        # No lock here: after the head is lost the dispatcher may hold it inside a Ray call that waits.
        self._closed = True
        with self._futures_lock:
            pending = list(self._futures)
        for future in pending:
            future.cancel()
        if self._lost_cluster:  # nothing to end there, and Ray's calls (its exit hook too) would wait for the head
            atexit.unregister(self.ray.shutdown)
            return
        self._thread.join(5)
        for actor in list(self._node_of):
            with contextlib.suppress(Exception):  # the cluster may be gone already
                self.ray.kill(actor)
        self.ray.shutdown()

    # --- actors -------------------------------------------------------------------------------

    def _add_actors(self) -> int:
        """Actors for each live node that has fewer than its resources allow (new nodes, lost actors)."""
        self._last_look = time.monotonic()
        have = collections.Counter(self._node_of.values())
        added = 0
        for node in self.ray.nodes():
            nid = node["NodeID"]
            self._where[nid] = node.get("NodeManagerAddress", nid)
            if not node.get("Alive") or self._deaths[nid] >= NODE_DEATHS:
                continue
            for options, settings in self._plan.actors(node)[have[nid]:]:
                actor = self._actor_class.options(
                    **options, max_restarts=MAX_RESTARTS, max_task_retries=TASK_RETRIES,
                    scheduling_strategy=self._affinity(nid, soft=False),  # a lost node's actors end, not wander
                ).remote(settings, True)
                self._node_of[actor] = nid
                self._settings_of[actor] = settings
                self._starting[actor.ready.remote()] = actor
                added += 1
        self.capacity = added + sum(have.values())
        return self.capacity

    def _drop(self, actor) -> None:
        nid = self._node_of.pop(actor, None)
        if nid is not None:
            self._deaths[nid] += 1
        if actor in self._idle:
            self._idle.remove(actor)

    # --- the dispatcher thread --------------------------------------------------------------

    def _loop(self):
        try:
            while True:
                with self._lock:
                    if self._closed or self._error is not None:
                        return
                    self._dispatch()
                    self._release_idle()
                    if self._waiting and (not self._node_of or time.monotonic() - self._last_look > NEW_NODES_EVERY):
                        self._add_actors()
                        if not self._node_of and self._load_errors:  # as the local pool: the model's message, alone
                            raise EngineUnavailable("; ".join(self._load_errors))
                        if not self._node_of:
                            raise ClusterError("no workers are left on the Ray cluster (every node lost or failing); "
                                               "check the nodes with `ray status`, then run again: finished calls are kept")
                    refs = list(self._starting) + list(self._running)
                    if not refs:
                        self._lock.wait(POLL_SECONDS)
                        continue
                done, _ = self.ray.wait(refs, num_returns=1, timeout=POLL_SECONDS)
                with self._lock:
                    for ref in done:
                        self._finished(ref)
        except Exception as e:  # noqa: BLE001 - the cluster is gone: fail what is pending, the run ends cleanly
            self._fail(e)

    def _watch_head(self) -> None:
        """A thread of its own: Ray's own calls may block once the head is gone."""
        host, port = self._gcs.rsplit(":", 1)
        misses = 0
        while not self._closed and self._error is None:
            time.sleep(GCS_CHECK_EVERY)
            try:
                socket.create_connection((host, int(port)), timeout=GCS_CHECK_EVERY).close()
                misses = 0
            except OSError as e:
                misses += 1
                if misses >= GCS_MISSES:
                    self._lost_cluster = True
                    self._fail(ConnectionError(f"its head ({self._gcs}) does not answer: {e}"))

    def _fail(self, e: Exception) -> None:
        """Fail every call not written yet: the run ends with the message, and resumes from the journal.
        Takes only the futures' lock: the dispatcher may hold the other one inside a Ray call that waits for the head."""
        error = e if isinstance(e, (ClusterError, ModelError)) else ClusterError(
            f"lost the Ray cluster at {cluster.address(self.settings.cluster)!r} ({type(e).__name__}: {e}); "
            "finished calls are saved: restart the cluster (`ray start ...`) and run again to resume", lost=True)
        self._error = error
        with self._futures_lock:
            pending = list(self._futures)
        for future in pending:
            with contextlib.suppress(cf.InvalidStateError):
                future.set_exception(error)

    def _busy(self) -> set:
        return {a for _, a in self._running.values()} | set(self._starting.values())

    def _to_idle(self, actor) -> None:
        """Once only, and never while it holds a group or is being asked whether it is there: a second
        entry would get a second group, or be given back (killed) by `_release_idle` while it works."""
        if actor in self._idle or actor in self._busy():
            return
        self._idle.append(actor)
        self._idle_since[actor] = time.monotonic()

    def _release_idle(self) -> None:
        """Actors idle with nothing waiting (the run's last calls are in flight elsewhere) are ended, so
        their cores go to another run on the cluster (another shard) instead of waiting with this one."""
        if self._waiting:
            return
        now, busy = time.monotonic(), self._busy()
        for actor in [a for a in self._idle if now - self._idle_since[a] > IDLE_RELEASE and a not in busy]:
            self._idle.remove(actor)
            self._node_of.pop(actor, None)
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)

    def _dispatch(self):
        """Send waiting groups, in order (longest first), to idle actors."""
        while self._waiting and self._idle:
            task = self._waiting.popleft()
            others = [a for a in self._idle if self._node_of.get(a) != task.avoid]
            if not others and any(n != task.avoid for n in self._node_of.values()):
                self._waiting.appendleft(task)  # a group lost with its node waits for a worker elsewhere (it goes whole)
                break
            actor = (others or self._idle)[0]
            self._idle.remove(actor)
            blobs = []
            for job in task.jobs:
                try:
                    blobs.append(Path(job.path).read_bytes())
                except OSError:
                    blobs.append(None)  # the worker reports it (or reads it from a shared disk)
            self._running[actor.work.remote(task.jobs, blobs)] = (task, actor)

    def _finished(self, ref):
        ray = self.ray
        if ref in self._starting:
            actor = self._starting.pop(ref)
            try:
                host, error = ray.get(ref)
            except ray.exceptions.RayError:  # could not start or restart there (node gone, restarts spent)
                self._drop(actor)
                return
            if error is not None:  # the engine cannot load there (no model, not installed): the node gets no work
                self._unusable(actor, host, error)
            elif actor in self._node_of:
                self._to_idle(actor)
            return
        task, actor = self._running.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # the work itself raised (a model that did not load): as the local pool
            task.future.set_exception(e.as_instanceof_cause())
        except ray.exceptions.RayError:  # its worker died, or its node, or the call's audio went with the node
            self._lost(actor, task)
            return
        else:
            task.future.set_result(result)
            self._failures.pop(actor, None)
        self._to_idle(actor)

    def _unusable(self, actor, host, error) -> None:
        """An actor whose engine did not load: its node gets no more actors this run (said once per node)."""
        nid = self._node_of.get(actor)
        if nid is not None and self._deaths[nid] < NODE_DEATHS:
            s = self._settings_of.get(actor, self.settings)
            message = f"model {s.model!r} ({s.engine}) failed to load on {host} ({self._where.get(nid, nid)}): {error}"
            self._load_errors.append(message)
            print(f"callscribe: {message}; that node gets no work", file=sys.stderr)
        self._drop(actor)
        if nid is not None:
            self._deaths[nid] = NODE_DEATHS
        with contextlib.suppress(Exception):
            self.ray.kill(actor, no_restart=True)

    def _lost(self, actor, task: _Task) -> None:
        """A group whose actor failed (Ray's own retries spent). The actor is dropped if its node is gone or
        it failed twice running, else asked again whether it is there (Ray restarts a dead worker in place).
        The group is lost alone the second time: it was given to two workers."""
        nid = self._node_of.get(actor)
        self._failures[actor] += 1
        alive = any(n["NodeID"] == nid and n.get("Alive") for n in self.ray.nodes())
        if alive and self._failures[actor] < 2:
            self._starting[actor.ready.remote()] = actor
        else:
            self._drop(actor)
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)
        ids = tuple(j.id for j in task.jobs)
        alone = ids in self._lost_once
        if not alone:
            self._lost_once[ids] = nid
            print(f"callscribe: a worker on {self._where.get(nid, nid)} was lost; its {len(task.jobs)} call(s) run again "
                  "on another", file=sys.stderr)
        task.future.set_exception(WorkerLost(f"the worker on {self._where.get(nid, nid)} was lost", alone=alone))
