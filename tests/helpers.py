"""Helpers the tests import (fixtures stay in conftest.py)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", REPO.parent / "shared" / "data"))
ARCHIVES = sorted(SAMPLES.glob("calls_*.zip"))


def find_sample(root: Path, name_part: str) -> Path:
    hits = [p for p in root.rglob("*") if p.is_file() and name_part in p.name]
    assert len(hits) == 1, f"{name_part}: {hits}"
    return hits[0]


def copy_project(dest: Path) -> Path:
    """A fresh copy of the project as git tracks it (what a new clone holds), as its own repo."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True)
    files = listed.stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file() and not f.startswith(("data/", "metrics/", "plots/")) and f not in ("dvc.lock", "metrics.json"):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    # The suite's expectations (WER bounds, word probabilities) are Whisper base's; on a Mac `auto`
    # would pick Qwen3-ASR and download it. test_engine_mlx.py sets its own engine.
    # Edited as text: params.yaml keeps the form `dvc exp run -S` writes back (comments, quotes).
    text = (dest / "params.yaml").read_text()
    assert "\n  engine: auto" in text
    (dest / "params.yaml").write_text(text.replace("\n  engine: auto", "\n  engine: faster-whisper", 1))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env)
    return dest


def dvc_env(project: Path) -> dict:
    # Stage commands call `python`: make it this interpreter, importing the copy's own package.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(project), "DVC_NO_ANALYTICS": "1"}


def dvc(project: Path, *args, check=True) -> str:
    out = subprocess.run(["dvc", *args], cwd=project, capture_output=True, text=True, env=dvc_env(project))
    assert not check or out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` ran, from its output."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def journal_ids(project: Path) -> list[str]:
    from callscribe.fileio import read_jsonl

    return [e["id"] for j in (project / "data" / "transcripts").glob("*/journal.jsonl") for e in read_jsonl(j)]


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from Linux /proc."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                out += descendants(int(child))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RAY = str(Path(sys.executable).with_name("ray"))
IN_PRIVATE_NET = "CALLSCRIBE_PRIVATE_NET"  # set by a process that re-ran itself in a PrivateNet (bench/scaling.py)
# A lost node is noticed in ~3 s instead of Ray's default ~15-30 s.
FAST_HEALTH = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3", "RAY_health_check_timeout_ms": "1000"}


class PrivateNet:
    """A network namespace with only the loopback interface, held by a `sleep` that `stop` ends. Ray 2.60
    binds its servers to the machine's routable address or to every interface whatever
    `--node-ip-address` says; inside this namespace there is no interface but `lo`, so nothing it opens is
    reachable from outside the machine (COMMON.md: a server a test starts listens on 127.0.0.1 only).
    Needs root (CI, this machine) or `unshare`'s rights; `why_not()` says why it cannot be made."""

    def __init__(self):
        self.holder = subprocess.Popen(["unshare", "--net", "--fork", "sh", "-c", "ip link set lo up && exec sleep infinity"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.prefix = ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]
        deadline = time.monotonic() + 10
        while "UP" not in self.run(["ip", "-o", "link", "show", "lo"]).split(">")[0]:
            assert self.holder.poll() is None, f"unshare --net failed: {self.holder.stderr.read().decode().strip()}"
            assert time.monotonic() < deadline, "the private network namespace did not bring up lo"
            time.sleep(0.05)

    def run(self, cmd: list[str]) -> str:
        return subprocess.run(self.prefix + cmd, capture_output=True, text=True).stdout

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.holder.pid, signal.SIGKILL)
        self.holder.wait()

    @staticmethod
    def why_not() -> str | None:
        """None when a private namespace can be made here, else why not (for a skip message)."""
        missing = [tool for tool in ("unshare", "nsenter", "ip") if shutil.which(tool) is None]
        if missing:
            return f"{', '.join(missing)} not installed (util-linux, iproute2: scripts/debian-packages.txt)"
        try:
            done = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return "unshare --net did not answer"
        return None if done.returncode == 0 else f"unshare --net is not permitted here ({done.stderr.strip()}); run as root"


class RayCluster:
    """A Ray cluster on this machine, inside a network namespace of its own that has only the loopback
    interface (`PrivateNet`; with `isolate=False`, or when already inside one, on the host's network): a
    head node and, with nodes=2, a second node (custom resources `node2`, and `callscribe_engine_qwen`: it
    runs Qwen3-ASR under `engine: auto`, as a Mac would), `cpus` CPUs each. Drivers must run in the same
    namespace: `inside(cmd)` gives the command that does. Each node is a `ray start --block` of its own;
    `kill` ends one like a power cut, `stop` ends exactly the processes started here (never `ray stop`,
    which ends every Ray on the machine)."""

    def __init__(self, nodes: int = 2, cpus: int = 1, isolate: bool = True):
        self.cpus = cpus
        self.net = PrivateNet() if isolate and not os.environ.get(IN_PRIVATE_NET) else None
        self.tmp = tempfile.mkdtemp(prefix="cs-ray-", dir="/tmp")  # Ray's socket paths must stay short
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client = f"ray://127.0.0.1:{free_port()}"  # Ray Client, for `transcribe.cluster: ray://host:port`
        self.env = {**os.environ, **FAST_HEALTH, "RAY_USAGE_STATS_ENABLED": "0"}
        self.head = self._start("--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.tmp}",
                                f"--ray-client-server-port={self.client.rsplit(':', 1)[1]}")
        self.node2 = None
        if nodes == 2:
            self.start_node2()
        else:
            self.wait_nodes(1)

    def inside(self, cmd: list[str]) -> list[str]:
        """`cmd` run in the cluster's network (its drivers: the CLI, `dvc repro`)."""
        return (self.net.prefix if self.net else []) + cmd

    def _start(self, *args) -> subprocess.Popen:
        with open(Path(self.tmp) / f"start-{time.monotonic_ns()}.log", "w") as log:
            cmd = self.inside([RAY, "start", "--block", f"--num-cpus={self.cpus}", "--node-ip-address=127.0.0.1",
                               "--disable-usage-stats", *args])
            return subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def nodes(self) -> int:
        out = subprocess.run(self.inside([RAY, "status", f"--address={self.address}"]), capture_output=True, text=True, env=self.env).stdout
        active = out.split("Active:")[1].split("Pending:")[0] if "Active:" in out else ""
        return active.count("node_")

    def wait_nodes(self, n: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.nodes() != n:
            assert time.monotonic() < deadline, f"the Ray cluster did not reach {n} node(s); logs in {self.tmp}"
            time.sleep(1)

    def start_node2(self) -> None:
        self.wait_nodes(1)
        self.node2 = self._start(f"--address={self.address}", '--resources={"node2": 1, "callscribe_engine_qwen": 1}')
        self.wait_nodes(2)

    def kill(self, proc) -> None:
        """End one node as a power cut does: its `ray start`, raylet, object store and workers (Ray
        starts each worker in a session of its own, so they are found as descendants, not by group)."""
        pids = descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()

    def busy(self, proc) -> bool:
        """Whether a worker on this node is transcribing now (Ray names the process after the method it runs)."""
        for pid in descendants(proc.pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::Worker.work"):
                    return True
        return False

    def logs(self, pattern: str) -> str:
        """The tails of the cluster's log files matching `pattern`, for a failing assertion's message."""
        files = sorted(Path(self.tmp).glob(f"session_latest/logs/{pattern}"))
        return "".join(f"\n== {f.name}\n{f.read_text(errors='replace')[-2000:]}" for f in files)

    def stop(self) -> None:
        for proc in (self.node2, self.head):
            if proc is not None:
                self.kill(proc)
        if self.net is not None:
            self.net.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
