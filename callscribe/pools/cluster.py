"""Joining a Ray cluster, and what each of its nodes runs (for `callscribe.pools.ray`).

Nodes may run different engines. With `transcribe.engine: auto` each node runs the engine that fits it,
by the rule `auto` follows on one machine (asked of the node once), unless it was started with a Ray
resource naming one (`ENGINE_RESOURCES`: `ray start ... --resources '{"callscribe_engine_qwen": 1}'`).
A named engine runs on every node that can run it (mlx-qwen3-asr: Apple Silicon, or a node with its resource).
Each actor is pinned to its node, so a node's resources say how many run there: one per core
(`cpu_threads` cores each) for faster-whisper on the CPU, one per GPU when `transcribe.device` is `auto`,
one per Apple Silicon Mac for mlx-qwen3-asr (it owns that Mac's GPU).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import replace
from pathlib import Path

from callscribe.pools.base import ClusterError

CONNECT_TIMEOUT = 5.0  # seconds to wait for the cluster's address to answer at all (Ray itself retries for ~30 s or more)
ENGINE_RESOURCES = {"faster-whisper": "callscribe_engine_whisper", "mlx-qwen3-asr": "callscribe_engine_qwen"}


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


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise ClusterError("transcribe.cluster is set to a Ray cluster but Ray is not installed: "
                           "pip install 'callscribe[ray]' on every machine, or set transcribe.cluster: local") from e
    return ray


def join(ray, where: str) -> None:
    check_reachable(where)
    try:
        # The driver's own callscribe goes to every node, so all run the same code; the other
        # packages (faster-whisper, the model) must be installed on each machine.
        ray.init(address=where, logging_level="WARNING", log_to_driver=False, configure_logging=False,
                 runtime_env={"py_modules": [str(Path(__file__).parents[1])]})
    except (ConnectionError, RuntimeError, ValueError) as e:
        if where == "auto":  # nothing to join on this machine
            raise ClusterError(f"no Ray cluster at {where!r} ({e}); start one with `ray start --head` (README: "
                               "More than one machine), set RAY_ADDRESS, or set transcribe.cluster: local") from e
        # It answered (check_reachable) but did not take this driver: e.g. Ray Client's server for it did not start.
        raise ClusterError(f"could not join the Ray cluster at {where!r} ({type(e).__name__}: {e}); run again, and if it "
                           "fails again look at `ray status` and the head's logs (/tmp/ray/session_latest/logs, "
                           "ray_client_server*.err for ray://), or set transcribe.cluster: local") from e


def no_node_message(where: str, choices: dict) -> str:
    engines = " or ".join(choices)
    need = ("an Apple Silicon Mac with callscribe[mlx], or a node started with --resources "
            "'{\"callscribe_engine_qwen\": 1}'") if list(choices) == ["mlx-qwen3-asr"] else "CPUs or GPUs"
    return (f"the Ray cluster at {where!r} has no node that can run {engines} ({need}); "
            "add one with `ray start --address=...`, or set transcribe.cluster: local")


class NodePlan:
    """(actor options, settings) for each actor a node should hold."""

    def __init__(self, ray, affinity, choices: dict):
        self.ray, self.affinity, self.choices = ray, affinity, choices  # engine -> its settings
        self.fits: dict = {}  # node id -> the engine `auto` picks there (asked once)

    def actors(self, node) -> list[tuple[dict, object]]:
        res = node.get("Resources", {})
        cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
        engine = self.engine_of(node)
        if engine is None:
            return []
        s = self.choices[engine]
        if engine == "mlx-qwen3-asr":  # one process owns the Mac's GPU
            return [({"num_cpus": min(cpus, 1)}, s)]
        if gpus and s.device == "auto":  # CTranslate2 on the node's GPUs; its CPUs feed them
            return [({"num_gpus": 1, "num_cpus": 0}, replace(s, device="cuda"))] * gpus
        per = max(1, s.cpu_threads)
        return [({"num_cpus": per}, replace(s, device="cpu"))] * (cpus // per)

    def engine_of(self, node) -> str | None:
        """Under `engine: auto`, the one its resource names, else the one that fits it; a named engine
        everywhere it can run (mlx-qwen3-asr needs a Mac or its resource); None: none here."""
        res = node.get("Resources", {})
        pinned = [e for e, name in ENGINE_RESOURCES.items() if res.get(name)]
        if len(self.choices) > 1:
            return pinned[0] if pinned else self.fit(node["NodeID"])
        engine = next(iter(self.choices))
        if engine == "mlx-qwen3-asr" and engine not in pinned and self.fit(node["NodeID"]) != engine:
            return None
        return engine

    def fit(self, nid) -> str | None:
        if nid not in self.fits:
            @self.ray.remote(num_cpus=0)
            def fits():
                from callscribe.engines import resolve_engine

                return resolve_engine("auto")

            try:
                where = self.affinity(nid, soft=False)
                self.fits[nid] = self.ray.get(fits.options(scheduling_strategy=where).remote(), timeout=60)
            except Exception:  # noqa: BLE001 - a node that cannot answer gets no actor
                self.fits[nid] = None
        return self.fits[nid]
