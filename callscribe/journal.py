"""The per-folder journal: one JSON line per finished file, appended atomically.

The journal is what makes runs resumable: a file whose latest line has the same sha256 and
settings hash is done. Lines are appended only after the file's outputs are in place, and
each append is flushed and fsynced, so a kill loses at most the files in flight.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class Journal:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def entries(self) -> dict[str, dict]:
        """Latest entry per file id. A line cut short by a kill is ignored."""
        latest: dict[str, dict] = {}
        if not self.path.exists():
            return latest
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and "id" in entry:
                    latest[entry["id"]] = entry
        return latest

    def _repair_tail(self) -> None:
        """Drop a partial last line left by a kill mid-write, so the next line starts clean."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)

    def append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        line = memoryview((json.dumps(entry, ensure_ascii=False) + "\n").encode())
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                while line:
                    line = line[os.write(fd, line) :]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, start)  # a disk that fills mid-line leaves no half line behind
                raise
        finally:
            os.close(fd)


def is_done(entry: dict | None, sha256: str, settings_hash: str | set[str]) -> bool:
    """`settings_hash`: one, or a set (a Ray cluster whose nodes run different engines: any engine's)."""
    hashes = {settings_hash} if isinstance(settings_hash, str) else settings_hash
    return bool(entry) and entry.get("sha256") == sha256 and entry.get("settings_hash") in hashes
