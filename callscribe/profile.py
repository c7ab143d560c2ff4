"""Profiling: what each WAV is (size, hash, codec, duration) and what its name says about the call."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from callscribe.audio import AudioError, probe

# q-<queue>-<caller>-<YYYYMMDD>-<HHMMSS>-<epoch>.<seq>.WAV, as the phone system names calls.
NAME = re.compile(
    r"^q-(?P<queue>[^-]+)-(?P<caller>.*?)-(?P<date>\d{8})-(?P<time>\d{6})-(?P<call_id>\d+(?:\.\d+)?)\.wav$",
    re.IGNORECASE,
)
AUDIO_SUFFIXES = {".wav"}


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
           "name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    row.update(parse_name(path.name))
    try:
        info = probe(path)
        row.update(codec=info.codec, sample_rate=info.sample_rate, channels=info.channels, duration=round(info.duration, 3),
                   readable=True, error=None)
    except AudioError as e:
        row.update(codec=None, sample_rate=None, channels=None, duration=0.0, readable=False, error=str(e))
    return row


def find_audio(root: str | Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def profile_tree(root: str | Path, previous: list[dict] = (), workers: int = 1, progress: bool = True) -> tuple[list[dict], int]:
    """Profile every WAV under `root`, reusing rows of `previous` whose file is unchanged
    (path, size, mtime). Returns the rows in path order and how many were newly profiled."""
    import concurrent.futures as cf
    import multiprocessing
    from functools import partial

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
    with cf.ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn")) as pool:
        results = pool.map(partial(profile_file, root=root), todo, chunksize=16)
        for path, row in tqdm(zip(todo, results), total=len(todo), desc="profile", unit="file", disable=not progress):
            row["mtime"] = path.stat().st_mtime
            rows[path] = row
    return [rows[p] for p in sorted(rows)], len(todo)


HISTOGRAM_EDGES = [0, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 90, float("inf")]  # minutes


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


def duration_histogram(rows: list[dict], edges=HISTOGRAM_EDGES) -> str:
    """Calls per duration band (minutes) as CSV, for `dvc plots show`."""
    labels = [f"{a:g}-{b:g}" if b != float("inf") else f">{a:g}" for a, b in zip(edges, edges[1:])]
    counts = Counter(next(lab for lab, b in zip(labels, edges[1:]) if r["duration"] / 60 < b) for r in rows)
    return "minutes,calls\n" + "".join(f"{lab},{counts.get(lab, 0)}\n" for lab in labels)
