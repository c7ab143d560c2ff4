"""The merge stage's logic: every profiled call, its status and text, in one table and per-call files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from callscribe.journal import Journal
from callscribe.outputs import write_transcript
from callscribe.records import FILTERED, PENDING, Transcript
from callscribe.redact import Redactor

PROFILE_FIELDS = ("id", "archive", "name", "bytes", "sha256", "codec", "sample_rate", "channels", "duration",
                  "queue", "caller", "date", "start", "start_utc", "call_id")


def merge(profile: list[dict], selected: dict[str, list[dict]], dropped: dict[str, str], transcripts_root: Path,
          out_dir: Path, formats: list[str], redaction: Redactor | None = None) -> tuple[list[dict], dict]:
    """One row per profiled call, in profile order; per-call files for each transcript (redacted when
    `redaction` says so: then nothing under `out_dir` holds what it masks)."""
    path_of = {row["id"]: row.get("path") for rows in selected.values() for row in rows}
    shard_of = {row["id"]: shard for shard, rows in selected.items() for row in rows}
    journals = {shard: Journal(Path(transcripts_root) / shard / "journal.jsonl").entries() for shard in selected}
    rows, counts = [], Counter()
    audio_s = worker_s = 0.0
    for p in profile:
        row = {k: p.get(k) for k in PROFILE_FIELDS}
        shard = shard_of.get(p["id"])
        row["shard"] = shard
        entry = journals[shard].get(p["id"]) if shard else None
        if shard is None:
            reason = dropped.get(p["id"], "not selected")
            if p.get("error"):  # why the file could not be read, in words
                reason = f"{reason}: {p['error']}"
            row.update(status=FILTERED, reason=reason, text=None)
        elif entry is None or entry.get("sha256") != p["sha256"]:
            row.update(status=PENDING, reason="not transcribed yet: run `dvc repro`", text=None)
        else:
            row.update(status=entry["status"], reason=entry.get("reason"), warnings=entry.get("warnings", []),
                       engine=entry.get("engine"), model=entry.get("model"), text=None)
            audio_s += entry.get("audio_seconds") or 0.0
            worker_s += entry.get("wall_seconds") or 0.0
            if entry.get("json"):
                with open(Path(transcripts_root) / shard / entry["json"], encoding="utf-8") as f:
                    t = Transcript.from_dict(json.load(f))
                if redaction:
                    t, row["redactions"] = redaction.apply(p["id"], t, formats, path_of.get(p["id"]))
                row["text"] = t.text
                if t.speakers:
                    row["speakers"] = t.speakers
                write_transcript(t, out_dir / "transcripts" / p["id"], formats)
        counts[row["status"]] += 1
        rows.append(row)
    metrics = {
        "files": len(rows),
        "by_status": dict(sorted(counts.items())),
        "audio_hours": round(audio_s / 3600, 4),
        "worker_hours": round(worker_s / 3600, 4),
        # audio seconds per second of one worker: x real time
        "speed_x_realtime_per_worker": round(audio_s / worker_s, 2) if worker_s else None,
    }
    return rows, metrics
