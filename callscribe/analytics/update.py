"""The analytics stage's work: bring data/output/analytics.db in step with the index.

Incremental by the index's per-call hash (its calls.jsonl row and transcript): a new shard's calls are
measured and matched, the rest are left alone. A change of the measure or tracker settings measures every
call again; a change of the reasons settings fits the topics again. Neither touches transcription.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from callscribe.analytics import reasons, store, trackers
from callscribe.analytics.measures import of_transcript
from callscribe.analytics.params import Analytics


@dataclass
class Stats:
    calls: int = 0  # transcribed calls in the index
    measured: int = 0  # this run
    unchanged: int = 0
    deleted: int = 0
    refitted: bool = False
    errors: list[str] = field(default_factory=list)  # calls whose transcript could not be read: kept as they were


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def keys(p: Analytics) -> tuple[str, str]:
    """(measures and trackers key, reasons key): what decides measuring again, and fitting again."""
    measures = _key(p.model_dump(exclude={"reasons"}))
    fit = _key(p.reasons.model_dump(exclude={"names"}))
    return measures, fit


def _read(data_dir: Path, rel: str | None) -> dict:
    if not rel:
        raise ValueError("the index names no transcript")
    return json.loads((data_dir / f"{rel}.json").read_bytes())


def update(index_db: Path, data_dir: Path, db: Path, model_path: Path, p: Analytics, names: dict[int, str]) -> Stats:
    index = sqlite3.connect(f"{index_db.resolve().as_uri()}?mode=ro", uri=True)
    rows = index.execute("SELECT id, hash, queue, date, duration, transcript FROM calls WHERE status = 'ok'").fetchall()
    index.close()
    con = store.open_db(db)
    stats = Stats(calls=len(rows))
    measures_key, fit_key = keys(p)
    redo_all = store.get_meta(con, "measures_key") != measures_key
    known = dict(con.execute("SELECT call, hash FROM measures"))
    texts: dict[str, str] = {}  # caller-side text of the calls measured now
    for call, digest, queue, date, duration, rel in rows:
        if not redo_all and known.get(call) == digest:
            stats.unchanged += 1
            continue
        try:
            transcript = _read(data_dir, rel)
            measures, parties, labels = of_transcript(transcript, duration, p)
            hits = trackers.find(transcript, p.trackers, labels, p.match_score)
        except (OSError, ValueError, KeyError, TypeError) as e:  # one bad file: named, the run goes on
            stats.errors.append(f"{call}: {e}")
            continue
        store.write_call(con, call, digest, {"queue": queue, "date": date}, measures, parties, labels, hits)
        texts[call] = reasons.caller_text(transcript, labels)
        stats.measured += 1
    current = {r[0] for r in rows}
    gone = [c for c in known if c not in current]
    con.executemany("DELETE FROM measures WHERE call = ?", [(c,) for c in gone])
    stats.deleted = len(gone)
    store.set_meta(con, "measures_key", measures_key)
    con.execute("DELETE FROM meta WHERE key = 'report'")  # the stage keeps a new one (store.keep_summary)
    _reasons(con, rows, texts, data_dir, model_path, p, fit_key, names, stats)
    con.commit()
    if stats.deleted > 1000:  # a shard dropped: give its pages back
        con.execute("VACUUM")
    con.close()
    return stats


def _reasons(con, rows, texts, data_dir, model_path, p: Analytics, fit_key, names, stats: Stats) -> None:
    model = reasons.load(model_path, fit_key)
    if model is None:  # fit on every call: read the caller text of those not measured now
        for call, _, _, _, _, rel in rows:
            if call not in texts:
                try:
                    texts[call] = reasons.caller_text(_read(data_dir, rel), _labels(con, call))
                except (OSError, ValueError) as e:
                    stats.errors.append(f"{call}: {e}")
        usable = {c: t for c, t in texts.items() if len(t.split()) >= p.reasons.min_words}
        model = reasons.fit(list(usable.values()), p.reasons.clusters, p.reasons.seed, fit_key)
        reasons.save(model, model_path)  # None too: the stage's output exists even when there was nothing to fit
        con.execute("DELETE FROM reasons")
        stats.refitted = True
    measured = {r[0] for r in con.execute("SELECT call FROM measures")}
    todo = [(c, t) for c, t in texts.items() if c in measured]
    placed = reasons.assign(model, [t for _, t in todo]) if model is not None and todo else [(None, 0.0)] * len(todo)
    con.executemany("INSERT OR REPLACE INTO reasons VALUES (?, ?, ?)",
                    [(c, topic if len(t.split()) >= p.reasons.min_words else None, w) for (c, t), (topic, w) in zip(todo, placed)])
    counts = dict(con.execute("SELECT topic, count(*) FROM reasons WHERE topic IS NOT NULL GROUP BY topic"))
    phrases = model.phrases if model is not None else []
    store.write_topics(con, [(t, reasons.label(t, names, phrases), phrases[t], counts.get(t, 0)) for t in range(len(phrases))])


def _labels(con, call: str) -> dict[str, str]:
    return {label: party for party, label in con.execute("SELECT party, label FROM parties WHERE call = ?", (call,))}
