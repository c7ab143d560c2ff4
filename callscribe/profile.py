"""Profiling: what each WAV is (size, hash, codec, duration) and what its name says about the call."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from callscribe.audio import AudioError, probe

# q-<queue>-<caller>-<YYYYMMDD>-<HHMMSS>-<epoch>.<seq>.WAV, as the phone system names calls.
NAME = re.compile(
    r"^q-(?P<queue>[^-]+)-(?P<caller>.*?)-(?P<date>\d{8})-(?P<time>\d{6})-(?P<call_id>\d+(?:\.\d+)?)\.wav$",
    re.IGNORECASE,
)
AUDIO_SUFFIXES = {".wav"}


class ProfileParams(BaseModel):
    """`profile:` in params.yaml."""

    workers: Annotated[int, Field(ge=0, description="a whole number of processes, 0 = one per CPU core")] = 0


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def parse_name(name: str) -> dict:
    """Fields from a phone-system file name; names that do not match give None for each."""
    fields = {"queue": None, "caller": None, "date": None, "start": None, "start_utc": None, "call_id": None}
    m = NAME.match(name)
    if not m:
        return fields
    try:
        local = datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S")
    except ValueError:
        return fields
    epoch = float(m["call_id"])
    fields.update(
        queue=m["queue"], caller=m["caller"] or None, date=local.date().isoformat(), start=local.isoformat(),
        start_utc=datetime.fromtimestamp(int(epoch), timezone.utc).isoformat() if epoch < 1e11 else None,
        call_id=m["call_id"],
    )
    return fields


def profile_file(path: Path, root: Path) -> dict:
    """One row of data/profile.jsonl. Unreadable files get readable=False and the error."""
    row = {"id": path.relative_to(root).with_suffix("").as_posix(), "path": path.as_posix(), "archive": path.relative_to(root).parts[0],
           "name": path.name, "bytes": 0, "sha256": None}
    row.update(parse_name(path.name))
    try:
        row.update(bytes=path.stat().st_size, sha256=sha256_file(path))
        info = probe(path)
        row.update(codec=info.codec, sample_rate=info.sample_rate, channels=info.channels, duration=round(info.duration, 3),
                   readable=True, error=None)
    except AudioError as e:
        row.update(unreadable(str(e)))
    except OSError as e:
        row.update(unreadable(f"cannot read the file ({e.strerror or e}); check its permissions"))
    except Exception as e:  # noqa: BLE001 - whatever a damaged file makes a decoder raise, it is that file's row
        row.update(unreadable(f"the decoder failed ({type(e).__name__}: {e}); check that the file plays, or convert it with ffmpeg or sox"))
    return row


def unreadable(error: str) -> dict:
    return {"codec": None, "sample_rate": None, "channels": None, "duration": 0.0, "readable": False, "error": error}


def _profile_files(paths: list[Path], root: Path) -> list[dict]:
    return [profile_file(p, root) for p in paths]


def _crash_row(path: Path, root: Path) -> dict:
    """The row of a file whose decoding killed the process: what can be known without decoding it."""
    row = {"id": path.relative_to(root).with_suffix("").as_posix(), "path": path.as_posix(), "archive": path.relative_to(root).parts[0],
           "name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path), **parse_name(path.name)}
    row.update(unreadable(f"the process decoding {path} died (a crash in the decoder, or out of memory); check that the file "
                          "plays, or convert it with ffmpeg or sox"))
    return row


def find_audio(root: str | Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def profile_tree(root: str | Path, previous: list[dict] = (), workers: int = 1, progress: bool = True) -> tuple[list[dict], int]:
    """Profile every WAV under `root`, reusing rows of `previous` whose file is unchanged
    (path, size, mtime). Returns the rows in path order and how many were newly profiled."""
    from tqdm import tqdm

    root = Path(root)
    old = {r["path"]: r for r in previous}
    rows, todo = {}, []
    for path in find_audio(root):
        st, prev = path.stat(), old.get(path.as_posix())
        if prev and prev["bytes"] == st.st_size and prev.get("mtime") == st.st_mtime:
            rows[path] = prev
        else:
            todo.append(path)
    with tqdm(total=len(todo), desc="profile", unit="file", disable=not progress) as bar:
        for path, row in _contained(todo, root, max(1, workers)):
            row["mtime"] = path.stat().st_mtime
            rows[path] = row
            bar.update()
    return [rows[p] for p in sorted(rows)], len(todo)


def _contained(todo: list[Path], root: Path, workers: int, chunk: int = 8):
    """(path, row) for each file, decoded in worker processes. A file that kills its worker (a crash in a
    native decoder, the kernel's OOM killer) gets an unreadable row: after a worker dies, the files that were
    in flight are decoded again one at a time, so the one that kills its worker alone is the culprit."""
    import concurrent.futures as cf
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    queue = [todo[i : i + chunk] for i in range(0, len(todo), chunk)][::-1]
    suspects: list[list[Path]] = []
    while queue or suspects:
        batch, limit = (suspects, 1) if suspects else (queue, 2 * workers)
        broken = False
        with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            running: dict = {}
            while (batch or running) and not broken:
                while batch and len(running) < limit and not broken:
                    paths = batch.pop()
                    try:
                        running[pool.submit(_profile_files, paths, root)] = paths
                    except BrokenProcessPool:  # a worker died since the last wait: these files never ran
                        batch.append(paths)
                        broken = True
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED) if running else (set(), set())
                for fut in finished:
                    paths = running.pop(fut)
                    try:
                        yield from zip(paths, fut.result())
                    except BrokenProcessPool:
                        broken = True
                        if limit == 1:
                            yield paths[0], _crash_row(paths[0], root)
                        else:
                            suspects += [[p] for p in paths]
            suspects += [[p] for paths in running.values() for p in paths]


def metrics(rows: list[dict]) -> dict:
    """metrics/profile.json: what the archive holds, at a glance."""
    return {
        "files": len(rows),
        "hours": round(sum(r["duration"] for r in rows) / 3600, 4),
        "bytes": sum(r["bytes"] for r in rows),
        "codecs": dict(Counter(r["codec"] or "unreadable" for r in rows).most_common()),
        "channels": {str(k): v for k, v in Counter(r["channels"] for r in rows if r["readable"]).most_common()},
        "empty": sum(1 for r in rows if r["readable"] and r["duration"] == 0),
        "unreadable": sum(1 for r in rows if not r["readable"]),
        "unnamed": sum(1 for r in rows if r["date"] is None),
    }
