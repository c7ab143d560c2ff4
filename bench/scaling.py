"""Scaling benchmark: the local process pool against a Ray cluster on the same cores, one node against
two, and from those figures a projection for the owner's archive (37,005 calls, 1,600 hours).

Every run transcribes the same calls with the same settings through `callscribe.transcribe.run`
(the stage's code path), timed from the call to its return: pool or cluster start-up, model loads
and the last call included. The Ray clusters are started here, on this machine (127.0.0.1), and
stopped after each run (tests.helpers.RayCluster). Ray listens on every interface whatever its address
says, so the whole benchmark (every run, the local pool's too, so the figures compare) re-runs itself in a
network namespace that has only the loopback interface (as root; elsewhere it says so and runs as it is).

    python bench/scaling.py                 # the samples' calls up to 45 s, twice over (52 calls)
    python bench/scaling.py --copies 1      # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ARCHIVE_CALLS, ARCHIVE_HOURS = 37_005, 1_600
LONGEST_CALL_S = 90 * 60  # the longest calls in the archive are about an hour and a half


def make_calls(workdir: Path, copies: int) -> list:
    """The sample calls up to 45 s (the 5-minute one would be most of the audio and decide the end alone)."""
    from callscribe.archive import extract
    from callscribe.calls import Job
    from callscribe.profile import sha256_file

    audio = workdir / "samples"
    extract(sorted((REPO / "samples").glob("*.zip")), audio)
    jobs = []
    for p in sorted(f for f in audio.rglob("*") if f.is_file() and f.stat().st_size > 1024):
        duration = sf.info(str(p)).duration
        if duration > 45:
            continue
        for i in range(copies):
            jobs.append(Job(f"{i}/{p.stem}", str(p), sha256_file(p), duration))
    return jobs


def timed_run(jobs, settings, out: Path) -> dict:
    from callscribe.runner import run

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run(jobs, out, settings, progress=False)
    wall = time.perf_counter() - t0
    entries = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert len(entries) == len(jobs) and all(e["status"] in ("ok", "no_speech") for e in entries), summary
    texts = {e["id"]: json.loads((out / e["json"]).read_text())["text"] for e in entries}
    return {"wall": wall, "audio": sum(j.duration for j in jobs), "calls": len(jobs), "texts": texts, "load": os.getloadavg()[0]}


def on_ray(jobs, settings, out: Path, nodes: int, cpus: int) -> dict:
    from dataclasses import replace

    from tests.helpers import RayCluster

    cluster = RayCluster(nodes=nodes, cpus=cpus)
    try:
        os.environ["RAY_ADDRESS"] = cluster.address
        return timed_run(jobs, replace(settings, cluster="ray"), out)
    finally:
        os.environ.pop("RAY_ADDRESS", None)
        cluster.stop()


def in_private_net() -> None:
    """Re-run this process in a network namespace of its own (only `lo`), where the Ray clusters and the
    drivers (this process) run together; unless it is there already, or that is not permitted here."""
    from tests.helpers import IN_PRIVATE_NET, PrivateNet

    if os.environ.get(IN_PRIVATE_NET):
        return
    if why := PrivateNet.why_not():
        print(f"scaling: not in a private network namespace ({why}): the Ray clusters listen on this machine's "
              "network while they run", file=sys.stderr)
        return
    os.environ[IN_PRIVATE_NET] = "1"
    sys.stdout.flush()
    os.execvp("unshare", ["unshare", "--net", "--fork", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                          sys.executable, *sys.argv])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=2, help="each call this many times, under different ids")
    ap.add_argument("--cores", type=int, default=2, help="cores for the local pool and the one-node cluster")
    ap.add_argument("--per-core", type=float, help="x real time of one core for the projection (default: measured here)")
    args = ap.parse_args()
    in_private_net()

    from callscribe.settings import TranscribeSettings

    settings = TranscribeSettings.from_params({"engine": "faster-whisper", "workers": args.cores})
    work = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    try:
        jobs = make_calls(work, args.copies)
        runs = {
            f"local pool, {args.cores} workers": timed_run(jobs, settings, work / "local"),
            f"Ray, 1 node x {args.cores} CPUs": on_ray(jobs, settings, work / "ray1", 1, args.cores),
            "Ray, 1 node x 1 CPU": on_ray(jobs, settings, work / "ray1x1", 1, 1),
            "Ray, 2 nodes x 1 CPU": on_ray(jobs, settings, work / "ray2x1", 2, 1),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = next(iter(runs.values()))
    print(f"{len(jobs)} calls, {base['audio']:.0f} s of audio; faster-whisper base int8, beam 2; {os.cpu_count()} cores here\n")
    print("| run | wall s | x real time | load avg | same text as local |\n|---|---|---|---|---|")
    for name, r in runs.items():
        same = sum(r["texts"][k] == base["texts"][k] for k in base["texts"])
        print(f"| {name} | {r['wall']:.1f} | {r['audio'] / r['wall']:.2f} | {r['load']:.1f} | {same}/{len(base['texts'])} |")
    ray_same = runs[f"Ray, 1 node x {args.cores} CPUs"]
    extra = ray_same["wall"] - base["wall"]
    print(f"\nRay at equal cores: {extra:+.1f} s in total ({100 * extra / base['wall']:+.1f} %), "
          f"{1000 * extra / len(jobs):+.0f} ms a call (start-up included)")
    one, two = runs["Ray, 1 node x 1 CPU"], runs["Ray, 2 nodes x 1 CPU"]
    print(f"two nodes against one: {one['wall'] / two['wall']:.2f}x the throughput")

    per_core = args.per_core or base["audio"] / base["wall"] / args.cores  # x real time of one core
    overhead = max(0.0, extra / base["wall"])
    print(f"\nProjection for {ARCHIVE_CALLS:,} calls, {ARCHIVE_HOURS:,} h (assumptions in docs/SCALING.md):")
    print("| nodes | 16-core Linux, faster-whisper base (h) | Apple Silicon Mac, mlx Qwen3-ASR at 30x (h) |\n|---|---|---|")
    for n in (1, 2, 4, 8, 16):
        linux = ARCHIVE_HOURS / (n * 16 * per_core) * (1 + overhead)
        mac = ARCHIVE_HOURS / (n * 30) * (1 + overhead)
        floor = LONGEST_CALL_S / 3600 / per_core  # the longest call on one core
        print(f"| {n} | {max(linux, floor):.1f} | {mac:.1f} |")
    floor = LONGEST_CALL_S / 60 / per_core
    print(f"\n(one core here: {per_core:.2f}x real time; the longest call alone needs {floor:.0f} min on one core)")


if __name__ == "__main__":
    main()
