"""The filter stage's logic: which profiled calls to transcribe, and which date-range shard each belongs to."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass
class FilterParams:
    min_bytes: int = 1024
    min_seconds: float = 0.5
    max_seconds: float | None = None
    queues: list[str] | None = None  # keep only these queues; None or [] keeps all
    start: str | None = None  # YYYY-MM-DD, inclusive
    end: str | None = None
    undated_shard: str | None = None  # shard for files whose names carry no date; None drops them


def drop_reason(row: dict, p: FilterParams) -> str | None:
    if not row.get("readable"):
        return "unreadable"
    if row["bytes"] < p.min_bytes:
        return "under min_bytes"
    if row["duration"] < p.min_seconds:
        return "under min_seconds"
    if p.max_seconds and row["duration"] > p.max_seconds:
        return "over max_seconds"
    if p.queues and row.get("queue") not in {str(q) for q in p.queues}:
        return "queue not selected"
    date = row.get("date")
    if date and ((p.start and date < str(p.start)) or (p.end and date > str(p.end))):
        return "outside filter dates"
    return None


def shard_of(row: dict, shards: dict[str, dict], p: FilterParams) -> str | None:
    date = row.get("date")
    if not date:
        return p.undated_shard if p.undated_shard in shards else None
    for name, rng in shards.items():
        if str(rng["start"]) <= date <= str(rng["end"]):
            return name
    return None


def select(rows: list[dict], shards: dict[str, dict], p: FilterParams) -> tuple[dict[str, list[dict]], dict]:
    """Rows per shard (each row in at most one) and the metrics: kept and dropped, by reason."""
    selected: dict[str, list[dict]] = {name: [] for name in shards}
    dropped: Counter = Counter()
    for row in rows:
        reason = drop_reason(row, p)
        shard = None if reason else shard_of(row, shards, p)
        if reason is None and shard is None:
            reason = "no shard covers its date" if row.get("date") else "no date in name"
        if reason:
            dropped[reason] += 1
            continue
        selected[shard].append(row)
    metrics = {
        "files": len(rows),
        "kept": sum(len(v) for v in selected.values()),
        "kept_hours": round(sum(r["duration"] for v in selected.values() for r in v) / 3600, 4),
        "dropped": sum(dropped.values()),
        "dropped_by_reason": dict(sorted(dropped.items())),
        "kept_by_shard": {k: len(v) for k, v in selected.items()},
    }
    return selected, metrics
