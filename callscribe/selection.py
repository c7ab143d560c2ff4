"""The filter stage's logic: which profiled calls to transcribe, and which date-range shard each belongs to."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, Field, RootModel, model_validator

DATE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
Day = Annotated[str, Field(pattern=DATE, description="a quoted date 'YYYY-MM-DD'")]
NoDayOrDay = Annotated[str, Field(pattern=DATE[:-1] + "|^$", description="a quoted date 'YYYY-MM-DD', or '' for no limit")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class FilterParams(BaseModel):
    """`filter:` in params.yaml: which profiled calls are transcribed ('', 0 and [] mean no limit)."""

    min_bytes: Annotated[int, Field(ge=0)] = 1024  # header-only and near-empty files
    min_seconds: Annotated[int | float, Field(ge=0)] = 0.5
    max_seconds: Annotated[int | float, Field(ge=0, description="seconds, 0 for no limit")] = 0
    queues: Annotated[list[str | int], Field(description="a list of queue numbers, [] for all")] = []  # keep only these
    start: NoDayOrDay = ""  # inclusive
    end: NoDayOrDay = ""
    # the shard for files whose names carry no date
    undated_shard: Annotated[str, Field(description="a shard's name, or '' to drop undated files")] = "2025-09a"


class Shard(BaseModel):
    start: Day
    end: Day

    @model_validator(mode="after")
    def _in_order(self):
        if self.end < self.start:
            raise ValueError("a range that ends on or after its start")
        return self


class Shards(RootModel[dict[Name, Shard]]):
    """`shards:` in params.yaml: name -> {start, end}, inclusive dates; each is its own DVC stage."""


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


@dataclass
class Selection:
    shards: dict[str, list[dict]]  # rows to transcribe, per shard
    dropped: dict[str, str]  # id -> why it is not transcribed
    duplicate_of: dict[str, str]  # id -> the id holding the same audio (sha256), transcribed once for both
    unsharded: list[dict]  # rows the filters keep but whose date no shard covers
    metrics: dict


def choose(rows: list[dict], shards: dict[str, dict], p: FilterParams) -> Selection:
    """Each unique audio once, in the shard of its date; the rest dropped with a reason."""
    selected: dict[str, list[dict]] = {name: [] for name in shards}
    dropped, duplicate_of, unsharded, first = {}, {}, [], {}
    for row in rows:
        reason = drop_reason(row, p)
        shard = None if reason else shard_of(row, shards, p)
        if reason is None and shard is None:
            reason = "no shard covers its date" if row.get("date") else "no date in name"
            if row.get("date"):
                unsharded.append(row)
        if reason is None and row["sha256"] in first:  # an export that repeats a call: one transcription serves both
            duplicate_of[row["id"]] = first[row["sha256"]]
            reason = f"duplicate of {first[row['sha256']]}"
        if reason:
            dropped[row["id"]] = reason
            continue
        first[row["sha256"]] = row["id"]
        selected[shard].append(row)
    by_reason = Counter("duplicate" if r.startswith("duplicate of") else r for r in dropped.values())
    metrics = {
        "files": len(rows),
        "kept": sum(len(v) for v in selected.values()),
        "kept_hours": round(sum(r["duration"] for v in selected.values() for r in v) / 3600, 4),
        "dropped": len(dropped),
        "dropped_by_reason": dict(sorted(by_reason.items())),
        "kept_by_shard": {k: len(v) for k, v in selected.items()},
    }
    return Selection(selected, dropped, duplicate_of, unsharded, metrics)


def select(rows: list[dict], shards: dict[str, dict], p: FilterParams) -> tuple[dict[str, list[dict]], dict]:
    """Rows per shard (each row in at most one) and the metrics: kept and dropped, by reason."""
    sel = choose(rows, shards, p)
    return sel.shards, sel.metrics


def propose_shards(dates: list[str], shards: dict[str, dict]) -> dict[str, dict]:
    """Shards covering `dates` (YYYY-MM-DD) that no shard covers: one per month, trimmed to the days
    of that month no existing shard covers, so that no two shards overlap."""
    def covered(day: date) -> bool:
        return any(str(r["start"]) <= day.isoformat() <= str(r["end"]) for r in shards.values())

    out = {}
    for month in sorted({d[:7] for d in dates}):
        first = date.fromisoformat(month + "-01")
        days = [first + timedelta(n) for n in range(31) if (first + timedelta(n)).month == first.month]
        runs = [[]]  # runs of consecutive uncovered days
        for day in days:
            if not covered(day):
                runs[-1].append(day)
            elif runs[-1]:
                runs.append([])
        wanted = [r for r in runs if r and any(r[0].isoformat() <= d <= r[-1].isoformat() for d in dates)]
        for r in wanted:
            name = month if len(r) == len(days) else r[0].isoformat()
            out[name] = {"start": r[0].isoformat(), "end": r[-1].isoformat()}
    return out


def shard_lines(proposed: dict[str, dict]) -> str:
    """Lines to paste under `shards:` in params.yaml, in its style."""
    return "".join(f"  {name}: {{start: '{r['start']}', end: '{r['end']}'}}\n" for name, r in proposed.items())
