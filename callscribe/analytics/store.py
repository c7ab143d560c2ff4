"""data/output/analytics.db: the measures, tracker hits and reasons per call, beside the index (docs/INDEX.md).

A separate SQLite file, so the analytics stage never rewrites the index stage's output; `ATTACH` it to
calls.db to join on `calls.id` (the web app does).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA_VERSION = "1"
CALL_MEASURES = ("speech_s", "silence_s", "silences", "hold_s", "holds", "longest_silence_s", "overtalk_s", "interruptions",
                 "longest_monologue_s", "longest_monologue_party", "first_agent_word_s")
SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE measures (
    call TEXT PRIMARY KEY,          -- calls.id in calls.db
    hash TEXT NOT NULL,             -- calls.hash it was computed from: a changed call is measured again
    queue TEXT, date TEXT, duration_s REAL,
    {", ".join(f"{m} {'TEXT' if m.endswith('party') else 'REAL'}" for m in CALL_MEASURES)},
    agent_talk_s REAL, caller_talk_s REAL, agent_wpm REAL, caller_wpm REAL
);
CREATE INDEX measures_queue ON measures(queue, date);
CREATE INDEX measures_date ON measures(date, call);  -- the report's calls pages, newest first
CREATE TABLE parties (
    call TEXT NOT NULL REFERENCES measures(call) ON DELETE CASCADE,
    party TEXT NOT NULL,            -- agent, caller, or a further speaker's label
    label TEXT,                     -- the transcript's speaker label it was read from (SPEAKER_00, agent, ...)
    talk_s REAL, words INTEGER, wpm REAL, interruptions INTEGER, longest_monologue_s REAL,
    PRIMARY KEY (call, party)
) WITHOUT ROWID;
CREATE TABLE hits (
    call TEXT NOT NULL REFERENCES measures(call) ON DELETE CASCADE,
    tracker TEXT NOT NULL, phrase TEXT NOT NULL,
    start REAL, "end" REAL, party TEXT, score REAL,
    seg INTEGER,                    -- the segment's position in the call's transcript (segments.seg)
    text TEXT                       -- the words matched, normalised
);
CREATE INDEX hits_tracker ON hits(tracker, call);
CREATE INDEX hits_call ON hits(call);
CREATE TABLE reasons (
    call TEXT PRIMARY KEY REFERENCES measures(call) ON DELETE CASCADE,
    topic INTEGER,                  -- NULL: too few caller words, or none the model knows
    weight REAL
);
CREATE INDEX reasons_topic ON reasons(topic);
CREATE TABLE topics (
    topic INTEGER PRIMARY KEY,
    name TEXT NOT NULL,             -- the owner's name (analytics/reasons.yaml), else "topic N: key phrases"
    phrases TEXT NOT NULL,          -- JSON list of key phrases
    calls INTEGER NOT NULL
);
"""


def open_db(path: Path) -> sqlite3.Connection:
    """The existing file when its schema is this one; a fresh one otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        try:
            con = sqlite3.connect(path)
            if con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == SCHEMA_VERSION:
                con.execute("PRAGMA foreign_keys = ON")
                return con
            con.close()
        except (sqlite3.DatabaseError, TypeError):
            pass
        path.unlink()
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    con.execute("PRAGMA foreign_keys = ON")
    return con


def get_meta(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def write_call(con: sqlite3.Connection, call: str, digest: str, info: dict, measures: dict, parties: dict, labels: dict,
               hits: list) -> None:
    """One call's rows, replacing what it had."""
    con.execute("DELETE FROM measures WHERE call = ?", (call,))
    agent, caller = parties.get("agent", {}), parties.get("caller", {})
    con.execute(f"""INSERT INTO measures VALUES ({", ".join("?" * (9 + len(CALL_MEASURES)))})""",
                [call, digest, info.get("queue"), info.get("date"), measures["duration_s"], *(measures[m] for m in CALL_MEASURES),
                 agent.get("talk_s"), caller.get("talk_s"), agent.get("wpm"), caller.get("wpm")])
    label_of = {party: label for label, party in labels.items()}
    con.executemany("INSERT INTO parties VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(call, p, label_of.get(p, p), v["talk_s"], v["words"], v["wpm"], v["interruptions"], v["longest_monologue_s"])
                     for p, v in parties.items()])
    con.executemany('INSERT INTO hits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                    [(call, h.tracker, h.phrase, h.start, h.end, h.party, h.score, h.seg, h.text) for h in hits])


def write_topics(con: sqlite3.Connection, rows: list[tuple[int, str, list[str], int]]) -> None:
    con.execute("DELETE FROM topics")
    con.executemany("INSERT INTO topics VALUES (?, ?, ?, ?)", [(t, n, json.dumps(p), c) for t, n, p, c in rows])


def keep_summary(path: Path, summary: dict) -> None:
    """The report's figures (analytics.report.summary), for the web page to render without recomputing."""
    con = sqlite3.connect(path)
    set_meta(con, "report", json.dumps(summary))
    con.commit()
    con.close()
