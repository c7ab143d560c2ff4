"""Transcription on a Ray cluster: the local pool's shape (submit a group of calls, get a future for
its records), with the work done by Ray actors on every node.

- Each actor loads its engine once and holds it: one per core (`cpu_threads` cores each) for
  faster-whisper on the CPU, one per GPU on a node with GPUs when `transcribe.device` is `auto`, one per
  Apple Silicon Mac for mlx-qwen3-asr (it owns that Mac's GPU). Each actor is pinned to its node, so
  a node's resources say how many run there.
- Nodes may run different engines. With `transcribe.engine: auto` each node runs the engine that fits
  it, by the rule `auto` follows on one machine (asked of the node once), unless it was started with
  a Ray resource naming one (`ENGINE_RESOURCES`: `ray start ... --resources '{"callscribe_engine_qwen": 1}'`).
  Each engine runs with its own settings (`TranscribeSettings.engine_choices`), so each record carries its
  engine, model and settings hash, and the journal takes a call done by either as done. A named engine
  runs on every node that can run it (mlx-qwen3-asr: Apple Silicon, or a node with its resource).
- Audio goes to the workers as bytes: the driver reads each file and sends it with the task. Nodes
  need not share a disk (an office's Macs, rented Linux boxes), and the phone system's GSM audio is
  ~1.6 kB a second (a 1-hour call is 6 MB), small beside the decoding it feeds. A file the driver
  cannot read is decoded from its path on the worker (a shared disk), which gives its error record.
- The driver stays the only writer: results come back to `callscribe.runner.run`, which writes
  transcripts and journal lines as each group finishes, so Ctrl-C, kills and resume are unchanged.
- Faults: a worker process that dies is restarted on its node by Ray and the group it held is run
  again there (`max_restarts`, `max_task_retries`). When that fails too, or the actor's node is lost
  (Ray cannot restart an actor pinned to a dead node), the group goes once more, whole, to another
  actor, on another node where there is one; a group that fails again is split into single calls,
  and a call that fails twice alone gets the local pool's error record. So a call that kills every
  worker it touches ends as an `error` after at most 8 worker deaths, and the calls of a lost node
  are run again elsewhere: the driver writes each once, when its result arrives.
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
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from callscribe.engines import ModelError

MAX_RESTARTS = 4  # worker processes restarted in place per actor, before the actor is given up
TASK_RETRIES = 1  # a group is retried once on its restarted actor before the pool sees it fail
NODE_DEATHS = 3  # actors lost for good on one node before that node gets no more
POLL_SECONDS = 0.5
GCS_CHECK_EVERY, GCS_MISSES = 2.0, 3  # the head unreachable this many checks in a row: the cluster is gone
IDLE_RELEASE = 5.0  # seconds an actor stays idle with nothing to do before it gives its cores back
NEW_NODES_EVERY = 10.0  # seconds between looks for nodes that joined (or came back)
CONNECT_TIMEOUT = 5.0  # seconds to wait for the cluster's address to answer at all (Ray itself retries for ~30 s or more)
# A node started with one of these Ray resources runs that engine under `engine: auto` (instead of the one
# its platform picks): `ray start --address=HEAD:6379 --resources '{"callscribe_engine_qwen": 1}'`.
ENGINE_RESOURCES = {"faster-whisper": "callscribe_engine_whisper", "mlx-qwen3-asr": "callscribe_engine_qwen"}


class ClusterError(Exception):
    """The Ray cluster cannot be reached or went away; the message says what to do."""

    def __init__(self, message: str, lost: bool = False):
        super().__init__(message)
        self.lost = lost  # the head went away mid-run


def exit_now(e: ClusterError, code: int) -> None:
    """After the head is lost, Ray's own teardown at exit crashes (SIGSEGV) or waits a minute for it:
    end the process at once. Every finished call is already in the journal (each line is fsynced)."""
    if e.lost:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def address(cluster: str) -> str:
    """`ray` joins the cluster this machine is part of (or `RAY_ADDRESS`); `ray://host:port` a remote one."""
    if cluster == "ray":
        return os.environ.get("RAY_ADDRESS") or "auto"
    return cluster


def check_reachable(where: str) -> None:
    """An address that nothing answers fails at once, naming it (Ray would retry for half a minute or more)."""
    host, _, port = where.removeprefix("ray://").rpartition(":")
    if where == "auto" or not port.isdigit():
        return  # `ray start` on this machine, or an address Ray itself reports on
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ClusterError(f"no Ray cluster answers at {where!r} ({e.strerror or type(e).__name__}); start one with "
                           "`ray start --head` (README: More than one machine), check the address and port (RAY_ADDRESS, "
                           "transcribe.cluster), or set transcribe.cluster: local") from e


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise ClusterError("transcribe.cluster is set to a Ray cluster but Ray is not installed: "
                           "pip install 'callscribe[ray]' on every machine, or set transcribe.cluster: local") from e
    return ray


class _Worker:
    """One engine on one node (a Ray actor): decodes groups of calls sent as bytes."""

    def __init__(self, settings):
        from callscribe.engines import load_engine

        self.settings, self.error, self.engine = settings, None, None
        try:
            self.engine = load_engine(settings)
        except Exception as e:  # noqa: BLE001 - reported by each task, with the file it was for
            self.error = e

    def ready(self) -> tuple[str, str | None]:
        """This node's name, and why the engine did not load (None when it did)."""
        return socket.gethostname(), None if self.error is None else f"{type(self.error).__name__}: {self.error}"

    def work(self, jobs: list, blobs: list) -> list:
        from callscribe.calls import Job, transcribe_files

        if self.error is not None:
            raise RuntimeError(f"model {self.settings.model!r} ({self.settings.engine}) failed to load on "
                               f"{socket.gethostname()}: {self.error}")
        with tempfile.TemporaryDirectory(prefix="callscribe-") as tmp:
            local = []
            for i, (job, blob) in enumerate(zip(jobs, blobs)):
                if blob is None:
                    local.append(job)
                    continue
                path = Path(tmp) / f"{i}{Path(job.path).suffix}"
                path.write_bytes(blob)
                local.append(Job(job.id, str(path), job.sha256, job.duration))
            results = transcribe_files(self.engine, local, self.settings)
        for job, copy, (record, _) in zip(jobs, local, results):
            record.path = job.path  # the driver's path, in the record and in any reason
            if record.reason:
                record.reason = record.reason.replace(copy.path, job.path)
            record.node = socket.gethostname()  # which machine ran it (the engine and device are beside it)
        return results


class _Task:
    def __init__(self, jobs, future, tries=0, avoid=None):
        self.jobs, self.future, self.tries, self.avoid = jobs, future, tries, avoid


class RayPool:
    """Submit groups of calls, get `concurrent.futures.Future`s of their (record, transcript) lists."""

    def __init__(self, settings):
        ray = _import_ray()
        self.ray, self.settings = ray, settings
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._affinity = NodeAffinitySchedulingStrategy
        where = address(settings.cluster)
        check_reachable(where)
        try:
            # The driver's own callscribe goes to every node, so all run the same code; the other
            # packages (faster-whisper, the model) must be installed on each machine.
            ray.init(address=where, logging_level="WARNING", log_to_driver=False, configure_logging=False,
                     runtime_env={"py_modules": [str(Path(__file__).parent)]})
        except (ConnectionError, RuntimeError, ValueError) as e:
            if where == "auto":  # nothing to join on this machine
                raise ClusterError(f"no Ray cluster at {where!r} ({e}); start one with `ray start --head` (README: "
                                   "More than one machine), set RAY_ADDRESS, or set transcribe.cluster: local") from e
            # It answered (check_reachable) but did not take this driver: e.g. Ray Client's server for it did not start.
            raise ClusterError(f"could not join the Ray cluster at {where!r} ({type(e).__name__}: {e}); run again, and if it "
                               "fails again look at `ray status` and the head's logs (/tmp/ray/session_latest/logs, "
                               "ray_client_server*.err for ray://), or set transcribe.cluster: local") from e
        # The head's GCS, checked every few seconds: when it is gone Ray waits a minute, then ends the
        # process; checking it ourselves ends the run in seconds, with a message (Ray Client raises itself).
        self._gcs = None if where.startswith("ray://") else ray.get_runtime_context().gcs_address
        self._actor_class = ray.remote(_Worker)
        self._lock = threading.Condition()
        self._futures_lock = threading.Lock()
        self._futures: set = set()  # every future not done yet, for _fail
        self._waiting: collections.deque[_Task] = collections.deque()
        self._idle: list = []  # ready actors with nothing to do
        self._starting: dict = {}  # ready() ref -> actor
        self._running: dict = {}  # work ref -> (task, actor)
        self._node_of: dict = {}  # actor -> node id
        self._where: dict = {}  # node id -> its address, for messages
        self._choices = settings.engine_choices()  # engine -> its settings: more than one under engine auto
        self._fits: dict = {}  # node id -> the engine `auto` picks there (asked once)
        self._load_errors: list[str] = []
        self._settings_of: dict = {}  # actor -> the settings it runs with (its engine's)
        self._deaths: collections.Counter = collections.Counter()  # node id -> actors lost for good
        self._idle_since: dict = {}  # actor -> when it last became idle
        self._failures: collections.Counter = collections.Counter()  # actor -> tasks failed in a row
        self._closed = False
        self._versions: dict = {}  # engine -> its versions, once a worker has reported them (for error records)
        self._lost_cluster = False
        self._error: Exception | None = None
        self._last_look = 0.0
        self.workers = self._add_actors()
        if not self.workers:
            ray.shutdown()
            engines = " or ".join(self._choices)
            need = ("an Apple Silicon Mac with callscribe[mlx], or a node started with --resources "
                    "'{\"callscribe_engine_qwen\": 1}'") if list(self._choices) == ["mlx-qwen3-asr"] else "CPUs or GPUs"
            raise ClusterError(f"the Ray cluster at {where!r} has no node that can run {engines} ({need}); "
                               "add one with `ray start --address=...`, or set transcribe.cluster: local")
        self._thread = threading.Thread(target=self._loop, name="callscribe-ray", daemon=True)
        self._thread.start()
        if self._gcs:
            threading.Thread(target=self._watch_head, name="callscribe-ray-head", daemon=True).start()

    # --- the pool's interface (as concurrent.futures' executors) ----------------------------

    def submit(self, fn, jobs, settings=None) -> cf.Future:
        """`fn` is the local pool's worker function; here the actors do that work."""
        future = cf.Future()
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        with self._lock:
            if self._error is not None:
                future.set_exception(self._error)
            else:
                self._waiting.append(_Task(list(jobs), future))
                self._lock.notify()
        return future

    def drain(self) -> None:
        """The local pools pass on progress per piece of a long call here; on Ray a call moves the bar when done."""

    def _forget(self, future) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def shutdown(self, wait=True, cancel_futures=False):
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

    def _plan(self, node) -> list[tuple[dict, object]]:
        """(actor options, settings) for each actor a node should hold."""
        res = node.get("Resources", {})
        cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
        engine = self._engine_of(node)
        if engine is None:
            return []
        s = self._choices[engine]
        if engine == "mlx-qwen3-asr":  # one process owns the Mac's GPU
            return [({"num_cpus": min(cpus, 1)}, s)]
        if gpus and s.device == "auto":  # CTranslate2 on the node's GPUs; its CPUs feed them
            return [({"num_gpus": 1, "num_cpus": 0}, replace(s, device="cuda"))] * gpus
        per = max(1, s.cpu_threads)
        return [({"num_cpus": per}, replace(s, device="cpu"))] * (cpus // per)

    def _engine_of(self, node) -> str | None:
        """The engine a node runs, or None: under `engine: auto`, the one its resource names, else the one
        that fits it; a named engine everywhere it can run (mlx-qwen3-asr needs a Mac or its resource)."""
        res = node.get("Resources", {})
        pinned = [e for e, name in ENGINE_RESOURCES.items() if res.get(name)]
        if len(self._choices) > 1:
            return pinned[0] if pinned else self._fit(node["NodeID"])
        engine = next(iter(self._choices))
        if engine == "mlx-qwen3-asr" and engine not in pinned and self._fit(node["NodeID"]) != engine:
            return None
        return engine

    def _fit(self, nid) -> str | None:
        """The engine `auto` picks on that node (mlx-qwen3-asr on Apple Silicon with it installed), asked once."""
        if nid not in self._fits:
            @self.ray.remote(num_cpus=0)
            def fits():
                from callscribe.engines import resolve_engine

                return resolve_engine("auto")

            try:
                where = self._affinity(nid, soft=False)
                self._fits[nid] = self.ray.get(fits.options(scheduling_strategy=where).remote(), timeout=60)
            except Exception:  # noqa: BLE001 - a node that cannot answer gets no actor
                self._fits[nid] = None
        return self._fits[nid]

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
            for options, settings in self._plan(node)[have[nid]:]:
                actor = self._actor_class.options(
                    **options, max_restarts=MAX_RESTARTS, max_task_retries=TASK_RETRIES,
                    scheduling_strategy=self._affinity(nid, soft=False),  # a lost node's actors end, not wander
                ).remote(settings)
                self._node_of[actor] = nid
                self._settings_of[actor] = settings
                self._starting[actor.ready.remote()] = actor
                added += 1
        return added + sum(have.values())

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
                            raise ModelError("; ".join(self._load_errors))
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
            f"lost the Ray cluster at {address(self.settings.cluster)!r} ({type(e).__name__}: {e}); "
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
            node, settings = self._node_of.get(actor), self._settings_of.get(actor, self.settings)
            self._lost(actor)
            self._retry(task, node, settings)
            return
        else:
            task.future.set_result(result)
            self._failures.pop(actor, None)
            if result:
                self._versions[result[0][0].engine] = result[0][0].versions
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

    def _lost(self, actor) -> None:
        """An actor whose task failed: dropped if its node is gone or it failed twice running, else
        asked again whether it is there (Ray restarts a dead worker in place)."""
        self._failures[actor] += 1
        nid = self._node_of.get(actor)
        alive = any(n["NodeID"] == nid and n.get("Alive") for n in self.ray.nodes())
        if alive and self._failures[actor] < 2:
            self._starting[actor.ready.remote()] = actor
            return
        self._drop(actor)
        with contextlib.suppress(Exception):
            self.ray.kill(actor, no_restart=True)

    def _crash_record(self, job, s):
        """As the local pool's (runner.Writer.crashed): the call is the culprit."""
        from callscribe.calls import new_record
        from callscribe.records import ERROR

        reason = (f"the worker process died while transcribing {job.path} (out of memory or a crash in the decoder), "
                  "on every worker it was given to; lower transcribe.max_chunk_minutes or transcribe.workers, or check the file")
        return new_record(job, s.engine, s.model, self._versions.get(s.engine, {}), s, status=ERROR, reason=reason)

    def _retry(self, task: _Task, node, settings) -> None:
        """A group whose worker died: once more whole, then call by call; a call that fails twice alone
        gets the local pool's error record."""
        if task.tries == 0:
            print(f"callscribe: a worker on {self._where.get(node, node)} was lost; its {len(task.jobs)} call(s) run again "
                  "on another", file=sys.stderr)
            self._waiting.appendleft(_Task(task.jobs, task.future, 1, node))
            return
        if len(task.jobs) == 1:
            task.future.set_result([(self._crash_record(task.jobs[0], settings), None)])
            return
        results: list = [None] * len(task.jobs)

        def gather(i, part):
            if task.future.done():
                return
            if part.cancelled():
                task.future.cancel()
            elif part.exception() is not None:
                task.future.set_exception(part.exception())
            else:
                results[i] = part.result()[0]
                if all(r is not None for r in results):
                    task.future.set_result(results)

        for i, job in reversed(list(enumerate(task.jobs))):
            part = cf.Future()
            part.add_done_callback(lambda f, i=i: gather(i, f))
            self._waiting.appendleft(_Task([job], part, 0, node))
