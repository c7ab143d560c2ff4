"""Finished transcripts addressed by what made them: audio sha256 and settings hash.

The journal says what the *latest* settings produced for each call. The store keeps every call's
transcript and record under `store/<settings hash>/<sha256>.json` inside the output folder (a
persisted DVC output, so it travels with `dvc push`/`dvc pull`), so returning to earlier settings
restores those transcripts instead of decoding the calls again.

Bounded: the transcripts of the last `KEEP_SETTINGS` settings used are kept; older ones are removed
after each run, and `callscribe prune FOLDER --keep N` trims by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from callscribe.fileio import atomic_write

KEEP_SETTINGS = 4  # settings whose transcripts are kept: today's and the last three tried
STORE = "store"


class Store:
    def __init__(self, out_dir: str | Path):
        self.root = Path(out_dir) / STORE

    def _path(self, sha256: str, settings_hash: str) -> Path:
        return self.root / settings_hash / f"{sha256}.json"

    def get(self, sha256: str, settings_hash: str) -> dict | None:
        """{"record": ..., "transcript": ... or None} made earlier from this audio with these settings."""
        path = self._path(sha256, settings_hash)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError):  # absent, or cut short by a kill: decode again
            return None

    def put(self, record: dict, transcript: dict | None) -> None:
        """Keep a finished call (errors are not kept: they are retried)."""
        if record.get("status") == "error":
            return
        keep = {k: v for k, v in record.items() if k not in ("id", "path", "json", "finished")}
        atomic_write(self._path(record["sha256"], record["settings_hash"]),
                     json.dumps({"record": keep, "transcript": transcript}, ensure_ascii=False))

    def touch(self, settings_hash: str) -> None:
        """Mark these settings as used now (pruning keeps the most recently used)."""
        folder = self.root / settings_hash
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        os.utime(folder, (now, now))

    def settings(self) -> list[Path]:
        """Settings folders, most recently used first."""
        if not self.root.is_dir():
            return []
        return sorted((p for p in self.root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)

    def prune(self, keep: int = KEEP_SETTINGS) -> list[str]:
        """Remove the transcripts of all but the `keep` most recently used settings; returns their hashes."""
        removed = []
        for folder in self.settings()[max(keep, 1):]:
            shutil.rmtree(folder)
            removed.append(folder.name)
        return removed
