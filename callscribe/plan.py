"""`callscribe plan`: the disk and the hours the archive in params.yaml needs on this machine.

Sizes come from the archives themselves (a zip's directory gives every member's unpacked size) or,
after `dvc repro profile`, from data/profile.jsonl. The speed is measured: a minute or so of the
bundled sample calls transcribed with the configured `transcribe` settings.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


def size(b: float) -> str:
    """Bytes as people read them: 740 MB, 12.4 GB, 1.2 TB."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b / 1e3:.0f} kB"


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 36000 else f"{seconds / 3600:.2f} h"

# Filesystems where DVC's `reflink` shares blocks; elsewhere (ext4) the cache holds a second copy.
REFLINK_FS = {"btrfs", "xfs", "apfs", "zfs", "bcachefs"}


@dataclass
class Archive:
    zip_bytes: int = 0  # the exports as they are (already on disk)
    audio_bytes: int = 0  # unpacked: data/audio
    files: int = 0
    seconds: float = 0.0  # audio
    source: str = ""  # where the seconds come from


def spread(files: list, size, n: int = 50) -> list:
    """Up to `n` files spread evenly over the sizes (skipping any over 64 MB: no zip bomb's giants)."""
    ordered = [f for f in sorted(files, key=size) if size(f) < 64e6]
    return ordered[:: max(1, len(ordered) // n)][:n]


def measure_archives(archives: list[str], profile: Path | None = None) -> Archive:
    """Sizes of the zips (or folders) in extract.archives; audio seconds from data/profile.jsonl when
    there is one, else estimated from a few members' bytes per second."""
    import soundfile as sf

    from callscribe.archive import archive_stem, is_junk
    from callscribe.fileio import read_jsonl

    a, probes = Archive(), []
    for name in map(Path, archives):
        if name.is_file() and zipfile.is_zipfile(name):
            a.zip_bytes += name.stat().st_size
            with zipfile.ZipFile(name) as zf:
                members = [m for m in zf.infolist() if m.filename.lower().endswith(".wav") and not m.is_dir() and not is_junk(m.filename)]
                a.audio_bytes += sum(m.file_size for m in members)
                a.files += len(members)
                probes += [(name, m) for m in spread(members, lambda m: m.file_size)]
        elif name.is_dir():
            wavs = [p for p in name.rglob("*")
                    if p.is_file() and p.suffix.lower() == ".wav" and not is_junk(p.relative_to(name).as_posix())]
            a.audio_bytes += sum(p.stat().st_size for p in wavs)
            a.files += len(wavs)
            probes += [(None, p) for p in spread(wavs, lambda p: p.stat().st_size)]
        else:
            raise SystemExit(f"callscribe plan: {name}: no such zip or folder; fix extract.archives in params.yaml")
    stems = {archive_stem(Path(x)) for x in archives}
    rows = [r for r in read_jsonl(profile) if r.get("archive") in stems] if profile is not None and profile.exists() else []
    if rows:  # profiled: the hours that really decode
        a.seconds = sum(r.get("duration") or 0.0 for r in rows)
        a.source = f"{profile} ({len(rows)} files profiled)"
        return a
    probe_bytes, probe_seconds = 0, 0.0  # bytes per second of audio, from files of every size
    with tempfile.TemporaryDirectory() as tmp:
        for zip_path, m in probes:
            path = m
            if zip_path is not None:
                path = Path(tmp) / "probe.wav"
                with zipfile.ZipFile(zip_path) as zf, zf.open(m) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            try:
                info = sf.info(str(path))
            except Exception:  # noqa: BLE001 - an unreadable file just gives no estimate
                continue
            if info.duration > 0:
                probe_bytes += path.stat().st_size
                probe_seconds += info.duration
    a.seconds = a.audio_bytes * probe_seconds / probe_bytes if probe_bytes else 0.0
    a.source = f"estimated from the bytes per second of {len(probes)} files (`dvc repro profile` makes it exact)"
    return a


def filesystem(path: Path) -> str:
    """The type of the filesystem holding `path` (Linux: /proc/mounts; macOS: APFS)."""
    if sys.platform == "darwin":
        return "apfs"
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            mount, fs = line.split()[1:3]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fs
    except OSError:
        pass
    return kind


@dataclass
class Speed:
    audio_seconds: float  # transcribed in the measurement
    worker_seconds: float  # summed over calls: each worker's time on them
    wall_seconds: float  # the whole run, model loads included
    workers: int
    output_bytes: int  # what the run wrote per call (transcripts in the configured formats)
    json_bytes: int

    @property
    def per_worker(self) -> float:  # x real time, one worker
        return self.audio_seconds / self.worker_seconds if self.worker_seconds else 0.0


def sample_jobs(seconds: float, min_seconds: float, folder: Path) -> list:
    """Sample calls longer than `min_seconds` (an archive's calls are minutes, not packed clips), longest
    first, up to `seconds` of audio in all."""
    import soundfile as sf

    from callscribe.archive import extract
    from callscribe.calls import Job
    from callscribe.profile import find_audio, sha256_file

    extract(sorted((Path(__file__).resolve().parents[1] / "samples").glob("calls_*.zip")), folder)
    found = [(p, sf.info(str(p)).duration) for p in find_audio(folder)]
    jobs, total = [], 0.0
    for path, duration in sorted(found, key=lambda f: -f[1]):
        if min_seconds < duration <= seconds - total:
            jobs.append(Job(path.relative_to(folder).with_suffix("").as_posix(), str(path), sha256_file(path), duration))
            total += duration
    return jobs


def measure_speed(transcribe: dict, formats: list[str], seconds: float) -> Speed:
    import time

    from callscribe.fileio import read_jsonl
    from callscribe.models import check_model
    from callscribe.runner import run
    from callscribe.settings import TranscribeSettings

    settings = TranscribeSettings.from_params(transcribe)
    check_model(settings)
    with tempfile.TemporaryDirectory() as tmp:
        jobs = sample_jobs(seconds, settings.pack_seconds, Path(tmp) / "audio")
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        run(jobs, out, settings, resume=False, formats=tuple(formats), progress=False)
        wall = time.perf_counter() - t0
        entries = read_jsonl(out / "journal.jsonl")
        written = [p for p in out.rglob("*") if p.is_file() and p.relative_to(out).parts[0] != "store"]
        return Speed(
            audio_seconds=sum(e.get("audio_seconds") or 0.0 for e in entries),
            worker_seconds=sum(e.get("wall_seconds") or 0.0 for e in entries),
            wall_seconds=wall, workers=settings.workers,
            output_bytes=sum(p.stat().st_size for p in written if p.name != "journal.jsonl"),
            json_bytes=sum(p.stat().st_size for p in written if p.suffix == ".json"),
        )


def disk_lines(a: Archive, speed: Speed | None, fs: str) -> list[tuple[str, float]]:
    """(what, bytes) for every copy the pipeline makes; transcripts scaled from the measured run."""
    copies = fs not in REFLINK_FS
    lines = [("the exports (already there)", a.zip_bytes), ("data/audio (unpacked)", a.audio_bytes)]
    lines.append((f"DVC cache of data/audio ({'a copy' if copies else 'reflinks: shared blocks'} on {fs})", a.audio_bytes if copies else 0))
    if speed and speed.audio_seconds:
        per_second = a.seconds / speed.audio_seconds
        shard = 2 * speed.json_bytes * per_second  # per-call JSON, and again in store/ (settings used before)
        output = speed.output_bytes * per_second
        lines.append(("data/transcripts (JSON + store)", shard))
        lines.append(("data/output/transcripts (merge.formats)", output))
        index = a.seconds / 3600 * 0.25e6  # docs/PERFORMANCE.md: 398 MB for 1,643 h
        lines.append(("data/output/calls.db (index)", index))
        if copies:
            lines.append(("DVC cache of the transcripts, outputs and index (copies)", shard + output + index))
    return lines


def report(p: dict, root: Path, seconds: float, measure: bool = True) -> str:
    archives = (p.get("extract") or {}).get("archives") or []
    a = measure_archives([str(root / x) if not Path(x).is_absolute() else x for x in archives], root / "data/profile.jsonl")
    speed = measure_speed(p.get("transcribe") or {}, (p.get("merge") or {}).get("formats") or ["json"], seconds) if measure else None
    fs = filesystem(root)
    lines = [f"archive: {len(archives)} export(s), {a.files} WAV files, {hours(a.seconds)} of audio",
             f"  hours: {a.source}", "", "disk:"]
    disk = disk_lines(a, speed, fs)
    lines += [f"  {size(b):>9}  {what}" for what, b in disk]
    total = sum(b for _, b in disk)
    free = shutil.disk_usage(root).free
    lines.append(f"  {size(total):>9}  in all; {size(free)} free here" + ("  ** not enough **" if total - a.zip_bytes > free else ""))
    if speed is not None:
        x = speed.per_worker
        needed = a.seconds / (x * speed.workers) if x else float("inf")
        lines += ["", f"speed: {speed.audio_seconds:.0f} s of sample calls in {speed.wall_seconds:.0f} s "
                  f"(model loads included): {x:.1f}x real time per worker, {speed.workers} worker(s)",
                  f"time: about {hours(needed)} for the archive on this machine (transcribe stages; the others take minutes)",
                  "  the samples are read speech; after the first shard, `dvc metrics show` gives the speed on your calls"]
    return "\n".join(lines)


def run_plan(args) -> int:
    from callscribe import params

    root = Path(args.params).resolve().parent
    try:
        p = params.load(args.params)
    except OSError as e:
        print(f"callscribe plan: {e.filename}: {e.strerror}; run it in the project folder", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a measurement never downloads
    print(report(p, root, args.seconds, measure=not args.no_measure))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="disk and hours the archive in params.yaml needs on this machine (measures for a minute or two)")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--seconds", type=float, default=400,
                   help="seconds of sample calls to transcribe for the speed (default 400: the sample calls of 10 s to 5 min)")
    p.add_argument("--no-measure", action="store_true", help="disk only: transcribe nothing")
    p.set_defaults(run=run_plan)
