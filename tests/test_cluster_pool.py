"""RayPool's bookkeeping, fast: a fake Ray (one node, actors that finish their tasks on the dispatcher's
next look) stands in for a cluster, so the races between giving idle actors back, the runner's next
submit and lost actors can be driven step by step. The real cluster is tests/test_cluster.py (slow)."""

import threading
import time
from types import SimpleNamespace

import pytest

ray_exceptions = pytest.importorskip("ray.exceptions")

from callscribe.calls import Job  # noqa: E402
from callscribe.pools import cluster, ray  # noqa: E402
from callscribe.settings import TranscribeSettings  # noqa: E402


class Ref:
    def __init__(self, actor, method, args):
        self.actor, self.method, self.args = actor, method, args


class Method:
    def __init__(self, actor, name):
        self.actor, self.name = actor, name

    def remote(self, *args):
        ref = Ref(self.actor, self.name, args)
        self.actor.ray.pending.append(ref)
        if self.name == "work":
            self.actor.groups.append([j.id for j in args[0]])
        return ref


class Actor:
    def __init__(self, ray, options):
        self.ray, self.options, self.killed, self.groups = ray, options, False, []
        self.ready, self.work = Method(self, "ready"), Method(self, "work")


class FakeRay:
    """The few calls RayPool makes, on one live node with `cpus` CPUs. `hold` keeps work unfinished."""

    exceptions = ray_exceptions

    def __init__(self, cpus=1):
        self.cpus, self.actors, self.pending, self.kills, self.hold = cpus, [], [], [], threading.Event()
        self.lock = threading.Lock()

    def init(self, **_):
        pass

    def shutdown(self):
        pass

    def get_runtime_context(self):
        return SimpleNamespace(gcs_address="")  # no head watchdog

    def nodes(self):
        return [{"NodeID": "ab" * 28, "Alive": True, "Resources": {"CPU": self.cpus}, "NodeManagerAddress": "127.0.0.1"}]

    def remote(self, cls):
        ray = self

        class ActorClass:
            @staticmethod
            def options(**options):
                return SimpleNamespace(remote=lambda settings, node=False: ray._new_actor(options))

        return ActorClass

    def _new_actor(self, options):
        actor = Actor(self, options)
        self.actors.append(actor)
        return actor

    def kill(self, actor, no_restart=True):
        busy = [r for r in self.pending if r.actor is actor and r.method == "work"]
        self.kills.append((actor, len(busy)))
        actor.killed = True

    def wait(self, refs, num_returns=1, timeout=None):
        done = [r for r in refs if r.method == "ready" or actor_done(self, r)]
        if not done:
            time.sleep(min(timeout or 0.01, 0.01))
        return done[:num_returns], [r for r in refs if r not in done[:num_returns]]

    def get(self, ref, timeout=None):
        if ref in self.pending:
            self.pending.remove(ref)
        if ref.actor.killed:
            raise ray_exceptions.ActorDiedError()
        if ref.method == "ready":
            return "host", None
        jobs = ref.args[0]
        return [(SimpleNamespace(id=j.id, engine="faster-whisper", versions={}), None) for j in jobs]


def actor_done(ray, ref):
    return ref.actor.killed or not ray.hold.is_set()


@pytest.fixture
def fake(monkeypatch):
    fake_ray = FakeRay()
    monkeypatch.setattr(cluster, "import_ray", lambda: fake_ray)
    monkeypatch.setattr(cluster, "check_reachable", lambda where: None)
    monkeypatch.setattr(ray, "IDLE_RELEASE", 0.2)
    monkeypatch.setattr(ray, "POLL_SECONDS", 0.01)
    return fake_ray


def jobs(*names):
    return [Job(n, f"/nonexistent/{n}.wav", "0" * 64, 5.0) for n in names]


def test_a_late_submit_after_idle_actors_were_given_back_still_goes_whole(fake):
    """The driver is slow to send its next group (a loaded machine): the idle actor gives its cores back, and
    the group then goes, whole, to a new actor; no actor is killed with work on it, no group is split."""
    pool = ray.RayPool(TranscribeSettings(engine="faster-whisper", cluster="ray"))
    try:
        assert pool.capacity == 1
        first = pool.submit(jobs("a", "b", "c"))
        assert [r[0].id for r in first.result(5)] == ["a", "b", "c"]
        time.sleep(0.6)  # longer than IDLE_RELEASE: the idle actor is given back
        assert fake.actors[0].killed and fake.kills == [(fake.actors[0], 0)]
        late = [pool.submit(jobs(f"{i}a", f"{i}b")) for i in range(4)]
        assert [[r[0].id for r in f.result(5)] for f in late] == [[f"{i}a", f"{i}b"] for i in range(4)]
        groups = [g for a in fake.actors for g in a.groups]
        assert groups == [["a", "b", "c"]] + [[f"{i}a", f"{i}b"] for i in range(4)]  # each group once, whole
        assert all(busy == 0 for _, busy in fake.kills)
    finally:
        pool.close()


def test_an_actor_with_work_in_flight_is_never_given_back(fake):
    """Work that outlasts IDLE_RELEASE: the actor holding it is not idle, whatever else waits or not."""
    pool = ray.RayPool(TranscribeSettings(engine="faster-whisper", cluster="ray"))
    try:
        pool.submit(jobs("warm")).result(5)
        fake.hold.set()  # the next groups take long
        running = [pool.submit(jobs(f"{i}a", f"{i}b")) for i in range(2)]
        time.sleep(0.8)
        assert not any(f.done() for f in running)
        assert all(busy == 0 for _, busy in fake.kills), fake.kills
        fake.hold.clear()
        assert [[r[0].id for r in f.result(5)] for f in running] == [["0a", "0b"], ["1a", "1b"]]
        assert [g for a in fake.actors for g in a.groups] == [["warm"], ["0a", "0b"], ["1a", "1b"]]
    finally:
        pool.close()


def test_an_actor_is_idle_once_however_often_it_is_reported_ready(fake):
    """A ready() answer for an actor already idle (asked again after a lost task) must not list it twice:
    a second entry would be handed a second group, or given back while it works."""
    pool = ray.RayPool(TranscribeSettings(engine="faster-whisper", cluster="ray"))
    try:
        pool.submit(jobs("warm")).result(5)
        actor = fake.actors[0]
        with pool._lock:
            pool._starting[actor.ready.remote()] = actor  # a stray ready() for the idle actor
        time.sleep(0.1)
        with pool._lock:
            assert pool._idle.count(actor) <= 1
    finally:
        pool.close()
