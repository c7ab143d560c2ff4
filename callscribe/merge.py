"""The merge stage's logic: every profiled call, its status and text, in one table and per-call files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from callscribe.confidence import confidence, signals
from callscribe.folder import ShardFolder, call_row
from callscribe.outputs import write_transcript
from callscribe.records import FILTERED, PENDING, TRANSCRIBED
from callscribe.redact import Tally, bleep_copy

PROFILE_FIELDS = ("id", "archive", "name", "bytes", "sha256", "codec", "sample_rate", "channels", "duration",
                  "queue", "caller", "date", "start", "start_utc", "call_id")


class MissingShard(Exception):
    """A shard with calls has no transcripts here (or none masked as params.yaml says): merging now
    would silently lose its text, or show what should be masked."""


def merge(profile: list[dict], selected: dict[str, list[dict]], dropped: dict[str, str], transcripts_root: Path,
          out_dir: Path, formats: list[str], duplicate_of: dict[str, str] | None = None,
          redaction: Tally | None = None, audio_dir: Path | None = None) -> tuple[list[dict], dict]:
    """One row per profiled call, in profile order; per-call files for each transcript. The transcribe
    stage wrote them redacted (callscribe.privacy); with `redaction`, each row says what was masked and
    with `audio_dir` too, the bleeped audio copies are made there. A call in `duplicate_of` (same audio as another) gets that call's
    transcript and `duplicate_of`."""
    duplicate_of = duplicate_of or {}
    path_of = {row["id"]: row.get("path") for rows in selected.values() for row in rows}
    shard_of = {row["id"]: shard for shard, rows in selected.items() for row in rows}
    for shard, rows_ in selected.items():
        if rows_ and not (Path(transcripts_root) / shard / "journal.jsonl").exists():
            raise MissingShard(f"{Path(transcripts_root) / shard} is not on this machine: `dvc pull` it, or transcribe it here "
                               f"with `dvc repro -f transcribe@{shard}`")
    masked_with = redaction.settings.signature() if redaction and redaction.settings.enabled else None
    folders = {shard: ShardFolder(Path(transcripts_root) / shard) for shard in selected}
    journals = {shard: folder.entries() for shard, folder in folders.items()}
    rows, counts = [], Counter()
    audio_s = worker_s = cpu_s = 0.0
    for p in profile:
        row = {k: p.get(k) for k in PROFILE_FIELDS}
        original = duplicate_of.get(p["id"])
        shard = shard_of.get(original or p["id"])
        row["shard"] = shard
        entry = journals[shard].get(original or p["id"]) if shard else None
        if original:
            row["duplicate_of"] = original
        if shard is None:
            reason = dropped.get(p["id"], "not selected")
            if p.get("error"):  # why the file could not be read, in words
                reason = f"{reason}: {p['error']}"
            row.update(status=FILTERED, reason=reason, text=None)
        elif entry is None or entry.get("sha256") != p["sha256"]:
            row.update(status=PENDING, reason="not transcribed yet: run `dvc repro`", text=None)
        else:
            if not original:  # transcribed once, counted once
                audio_s += entry.get("audio_seconds") or 0.0
                worker_s += entry.get("wall_seconds") or 0.0
                cpu_s += entry.get("cpu_seconds") or 0.0
            if entry.get("status") in TRANSCRIBED and masked_with and entry.get("redacted") != masked_with:
                raise MissingShard(f"{Path(transcripts_root) / shard / (entry.get('json') or entry['id'])} is not masked as params.yaml's "
                                   f"redact settings say: run `dvc repro transcribe@{shard}` first (it masks again, decoding nothing)")
            t = folders[shard].transcript(entry)
            counted = redaction.add(entry.get("redactions")) if masked_with and t else None
            if counted is not None and audio_dir is not None and redaction.settings.audio and path_of.get(original or p["id"]):
                bleep_copy(t, redaction.settings, path_of[original or p["id"]], audio_dir / f"{p['id']}.wav")
            decoder = signals(t.to_dict(), entry.get("warnings")) if t is not None else None
            row.update(call_row(entry, t, counted, {"decoder": decoder, "confidence": confidence(decoder)} if t is not None else None))
            if t is not None:
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
        "cpu_hours": round(cpu_s / 3600, 4),
        # audio seconds per CPU-second of the workers: what a setting costs, hardly moved by other load
        "speed_x_realtime_per_cpu": round(audio_s / cpu_s, 2) if cpu_s else None,
    }
    return rows, metrics
