"""The Mac benchmark (`make bench` on Apple Silicon): Qwen3-ASR's batch sizes and compute types.

Runs callscribe's transcribe stage with the mlx-qwen3-asr engine and the other params.yaml
defaults on the shipped sample calls (samples/*.zip: 28 calls, 8.5 minutes, 27 with reference
text), once per combination of `transcribe.batch_size` (1, 4, 8) and `compute_type` (float16,
int8, int4), each in its own process. Prints speed (x real time), WER and peak memory (the
process's RSS and MLX's peak GPU allocation), and writes everything to a JSON file to send back:

    make bench                                  # = python bench/mac.py --json bench/mac-results.json
    python bench/mac.py --batch 1 8 --compute int8 --repeat 3   # fewer runs; each on the set 3 times
    python bench/mac.py --files ~/calls/*.wav   # your own calls (speed and memory; no WER)

The first run downloads Qwen/Qwen3-ASR-0.6B and the forced aligner once (~2.5 GB, network needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sample_set(workdir: Path) -> list[tuple[str, str]]:
    """(path, reference) for every shipped sample call; reference '' where there is none."""
    from callscribe.archive import extract

    extract(sorted((REPO / "samples").glob("*.zip")), workdir / "samples")
    refs = {d["file"]: d["text"] for d in map(json.loads, (REPO / "samples" / "labels.jsonl").read_text().splitlines())}
    calls = sorted(p for p in (workdir / "samples").rglob("*") if p.is_file() and p.suffix.lower() == ".wav")
    return [(str(p), refs.get(p.name, "")) for p in calls]


def machine() -> dict:
    info = {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()}
    if sys.platform == "darwin":
        for key, name in (("chip", "machdep.cpu.brand_string"), ("memory_bytes", "hw.memsize")):
            info[key] = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, check=False).stdout.strip()
    import importlib.metadata as md

    for package in ("mlx", "mlx-qwen3-asr"):
        try:
            info[package] = md.version(package)
        except md.PackageNotFoundError:
            info[package] = None
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", nargs="*", type=int, default=[1, 4, 8], help="transcribe.batch_size values")
    ap.add_argument("--compute", nargs="*", default=["float16", "int8", "int4"], help="transcribe.compute_type values")
    ap.add_argument("--files", nargs="*", help="audio files instead of the samples (no WER)")
    ap.add_argument("--repeat", type=int, default=1, help="run the set this many times per combination (steadier speed)")
    ap.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                    help="another transcribe param, e.g. --set timestamps=false")
    ap.add_argument("--json", default=str(REPO / "bench" / "mac-results.json"), help="where to write the figures")
    args = ap.parse_args()
    if not (sys.platform == "darwin" and platform.machine() == "arm64"):
        print("note: not an Apple Silicon Mac; MLX runs on its CPU backend here, so the speeds say nothing about a Mac", flush=True)

    import yaml

    sys.path.insert(0, str(REPO / "bench"))  # bench/ holds scripts, not a package
    from throughput import measure, report

    extra = {k.removeprefix("transcribe."): yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    workdir = Path(tempfile.mkdtemp(prefix="callscribe-mac-bench-"))
    pairs = [(f, "") for f in args.files] if args.files else sample_set(workdir)
    files = [p for p, _ in pairs] * args.repeat
    refs = dict(pairs)
    print(f"{len(pairs)} files x {args.repeat}; batch sizes {args.batch}; compute types {args.compute}\n", flush=True)

    runs = []
    for compute in args.compute:
        for batch in args.batch:
            overrides = {"engine": "mlx-qwen3-asr", "compute_type": compute, "batch_size": batch, **extra}
            run_dir = workdir / f"{compute}-b{batch}"
            run_dir.mkdir()
            r = measure("pipeline", files, run_dir, overrides)
            report(f"{compute} b{batch}", r, refs)
            gpu = r.get("peak_mlx_mb")
            print(f"{'':9s} peak MLX (GPU) memory {gpu:.0f} MB" if gpu is not None else "", flush=True)
            r.pop("texts", None)
            runs.append({"compute_type": compute, "batch_size": batch, **r})

    print("\n| compute | batch | x real time | WER | peak RSS | peak MLX |\n|---|---|---|---|---|---|")
    for r in runs:
        wer = f"{r['wer']:.2%}" if r.get("wer") is not None else "n/a"
        print(f"| {r['compute_type']} | {r['batch_size']} | {r['speed']:.1f}x | {wer} | {r['peak_rss_mb']['main']:.0f} MB | "
              f"{r.get('peak_mlx_mb') or 0:.0f} MB |")
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "files": len(pairs), "repeat": args.repeat,
              "audio_seconds_per_pass": sum(r["audio_seconds"] for r in runs[:1]) / args.repeat if runs else 0, "runs": runs}
    Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    print(f"\nwrote {args.json}: commit it, or send it back as it is")


if __name__ == "__main__":
    main()
