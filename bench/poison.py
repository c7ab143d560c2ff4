"""Crash containment at scale: `dvc repro` over 1,000 short calls of which 3 % are poisoned.

Builds a folder export of N calls (1-3 s cut from the sample calls, GSM 6.10 8 kHz, phone-system names
spread over September 2025), poisons a share of them, and runs `dvc repro` on two fresh copies of the
project side by side: one over the poisoned export, one over the same export without the poisoned files
(the baseline). Reports runs completed, records written, files lost (inputs with no final record: must be 0),
and the time the poison cost (poisoned run minus baseline). Writes the figures as JSON.

Poison classes, in equal shares: unknown codecs (tags 0x1234, G.729, MP3), truncations (inside the fmt
chunk, at the data header, mid data), damaged headers (1 Hz, 0 and 65535 channels, 4 GB data size,
random bytes), files that kill the process decoding them (the profile stage's workers) and files that
kill the transcription worker that loads them. The killers are real segfaults, set off by a marker in
the file through bench/poison_hook/sitecustomize.py, which this script alone puts on PYTHONPATH.

    python bench/poison.py                      # 1,000 files, 3 % poisoned
    python bench/poison.py --files 200 --out /tmp/poison.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from callscribe.archive import extract  # noqa: E402
from callscribe.audio import load_audio  # noqa: E402
from tests.helpers import copy_project, dvc_env  # noqa: E402

CLASSES = ["unknown codec", "truncated", "damaged header", "kills the decoder", "kills the worker"]


def speech_sources(workdir: Path) -> list[np.ndarray]:
    """The labelled sample calls longer than 3 s, decoded at 8 kHz mono."""
    audio = workdir / "samples"
    extract(sorted((REPO / "samples").glob("*.zip")), audio)
    out = []
    for lab in map(json.loads, (REPO / "samples" / "labels.jsonl").read_text().splitlines()):
        hits = [p for p in (audio / lab["archive"]).rglob(lab["file"]) if p.stat().st_size > 1024]
        if hits and lab["duration"] > 3.5:
            out.append(load_audio(hits[0], 8000).mean(axis=0))
    return out


def with_chunk(wav: bytes, cid: bytes, body: bytes) -> bytes:
    """The WAV with one more chunk before its data chunk (decoders skip chunks they do not know)."""
    at = wav.find(b"data")
    body += b"\0" * (len(body) % 2)
    out = bytearray(wav[:at] + cid + struct.pack("<I", len(body)) + body + wav[at:])
    out[4:8] = struct.pack("<I", len(out) - 8)
    return bytes(out)


def poison(kind: int, i: int, good: bytes, pcm: bytes) -> bytes:
    """The i-th poisoned file of class `kind`, made from a good GSM file and a PCM one of the same call."""
    fmt, data = good.find(b"fmt "), good.find(b"data")
    if kind == 0:  # unknown codec
        tag = [0x1234, 0x0133, 0x0055][i % 3]
        return pcm[:20] + struct.pack("<H", tag) + pcm[22:]
    if kind == 1:  # truncated
        return good[: [fmt + 12, data + 8, data + 8 + (len(good) - data) // 2 + 7][i % 3]]
    if kind == 2:  # damaged header
        b = bytearray(pcm)
        if i % 5 == 0:
            b[24:28] = struct.pack("<I", 1)  # 1 Hz
        elif i % 5 == 1:
            b[22:24] = struct.pack("<H", 0)  # 0 channels
        elif i % 5 == 2:
            b[22:24] = struct.pack("<H", 0xFFFF)  # 65535 channels
        elif i % 5 == 3:
            at = pcm.find(b"data")
            b[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFFF)  # 4 GB of data declared
        else:
            return np.random.default_rng(i).integers(0, 256, len(pcm), dtype=np.uint8).tobytes()
        return bytes(b)
    marker = b"POISON-KILLS-DECODER" if kind == 3 else b"POISON-KILLS-WORKER"
    return with_chunk(good, b"JUNK", marker)


def build_export(folder: Path, n: int, share: float, workdir: Path, seed: int = 0) -> dict[str, str]:
    """n calls under folder; returns name -> poison class ('' for a good file)."""
    rng = random.Random(seed)
    sources = speech_sources(workdir)
    folder.mkdir(parents=True)
    n_bad = round(n * share)
    bad_at = set(rng.sample(range(n), n_bad))
    kinds, made = {}, Counter()
    tmp = workdir / "one.wav"
    for i in range(n):
        src = sources[i % len(sources)]
        seconds = rng.uniform(1.0, 3.0)
        start = rng.randrange(0, len(src) - int(8000 * seconds))
        cut = src[start : start + int(8000 * seconds)]
        day = 1 + i % 30
        name = f"q-300-+1336555{i:04d}-202509{day:02d}-{10 + i % 8:02d}{i % 60:02d}00-{1756700000 + i * 997}.{i}.WAV"
        sf.write(tmp, cut, 8000, subtype="GSM610")
        data = tmp.read_bytes()
        kind = ""
        if i in bad_at:
            k = made.total() % len(CLASSES)
            sf.write(tmp, cut, 8000, subtype="PCM_16")
            data = poison(k, made[k], data, tmp.read_bytes())
            made[k] += 1
            kind = CLASSES[k]
        (folder / name).write_bytes(data)
        kinds[name] = kind
    tmp.unlink()
    return kinds


def repro(project: Path, archive: Path, hook: bool) -> dict:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["extract"]["archives"] = [str(archive)]
    params["shards"] = {"2025-09a": {"start": "2025-09-01", "end": "2025-09-15"}, "2025-09b": {"start": "2025-09-16", "end": "2025-09-30"}}
    params["profile"]["workers"] = 2
    params["transcribe"]["workers"] = 2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dvc_env(project)
    if hook:
        env["PYTHONPATH"] += os.pathsep + str(REPO / "bench" / "poison_hook")
    t0 = time.perf_counter()
    done = subprocess.run(["nice", "dvc", "repro"], cwd=project, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    again = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, env=env)  # nothing left to do
    out = project / "data/output/calls.jsonl"
    calls = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    if done.returncode:
        print(f"poison: dvc repro failed:\n{(done.stdout + done.stderr)[-3000:]}", file=sys.stderr)
    return {"exit": done.returncode, "wall_s": round(wall, 1), "second_repro_exit": again.returncode,
            "second_repro_runs_nothing": "didn't change" in again.stdout or "up to date" in again.stdout,
            "traceback": "Traceback" in done.stdout + done.stderr, "calls": calls,
            "log_tail": (done.stdout + done.stderr)[-2000:]}


def summarize(kinds: dict[str, str], p: dict, b: dict) -> dict:
    """The figures: runs completed, records written, files lost, per poison class, time lost."""
    by_name = {c["name"]: c for c in p["calls"]}
    base_text = {c["name"]: c["text"] for c in b["calls"]}
    lost = [n for n in kinds if n not in by_name or by_name[n]["status"] == "pending"]
    per_class = {}
    for kind in CLASSES:
        names = [n for n, k in kinds.items() if k == kind]
        per_class[kind] = {"files": len(names), "statuses": dict(Counter(by_name[n]["status"] for n in names if n in by_name)),
                           "example_reason": next((by_name[n]["reason"] for n in names if n in by_name and by_name[n]["reason"]), None)}
    good = [n for n, k in kinds.items() if not k]
    report = {
        "files": len(kinds), "poisoned": sum(1 for k in kinds.values() if k), "cpu_cores": os.cpu_count(),
        "runs_completed": f"{int(p['exit'] == 0)} of 1 (exit {p['exit']}); a second `dvc repro` exit {p['second_repro_exit']}, "
                          f"nothing re-run: {p['second_repro_runs_nothing']}",
        "traceback": p["traceback"],
        "records_written": len(p["calls"]), "by_status": dict(Counter(c["status"] for c in p["calls"])),
        "files_lost": len(lost),
        "good_files_ok_or_no_speech": sum(by_name.get(n, {}).get("status") in ("ok", "no_speech") for n in good),
        "good_files_same_text_as_baseline": sum(n in by_name and by_name[n]["text"] == base_text.get(n) for n in good),
        "per_class": per_class,
        "wall_s_poisoned": p["wall_s"], "wall_s_baseline": b["wall_s"], "wall_s_baseline_exit": b["exit"],
        "time_lost_to_poison_s": round(p["wall_s"] - b["wall_s"], 1) if b["wall_s"] is not None else None,
    }
    if p["exit"] != 0:
        report["log_tail"] = p["log_tail"]
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--share", type=float, default=0.03)
    ap.add_argument("--out", default=None, help="write the figures here as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="poison-") as tmp:
        tmp = Path(tmp)
        export = tmp / "export"
        kinds = build_export(export, args.files, args.share, tmp)
        clean = tmp / "clean export"
        clean.mkdir()
        for name, kind in kinds.items():
            if not kind:
                os.link(export / name, clean / name)
        # Side by side, so both runs share the machine alike and their difference is the poison's cost.
        print(f"poison: dvc repro over the poisoned export ({len(kinds)} files) and the baseline ({len(list(clean.iterdir()))})...",
              file=sys.stderr, flush=True)
        projects = {label: copy_project(tmp / f"project {label}") for label in ("poisoned", "baseline")}
        with ThreadPoolExecutor(2) as threads:
            futures = {label: threads.submit(repro, projects[label], folder, label == "poisoned")
                       for label, folder in (("poisoned", export), ("baseline", clean))}
            runs = {label: f.result() for label, f in futures.items()}
    report = summarize(kinds, runs["poisoned"], runs["baseline"])
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
