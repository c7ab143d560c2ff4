"""Outputs are never replaced by emptier ones without a loud reason: the rule the merge and index stages
apply before they write.

A call with text in the outputs there now keeps text in what replaces them, unless the selection no longer
holds it (the filter drops it now, or the archive no longer has it). A call whose text would give way to an
error or to missing transcripts stops the stage, naming how many and why, and the outputs stay as they
were. `CALLSCRIBE_ALLOW_EMPTIER=1 dvc repro` replaces them anyway.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from pathlib import Path

from callscribe.records import ERROR, PENDING

OVERRIDE = "CALLSCRIBE_ALLOW_EMPTIER"
LOSSES = (ERROR, PENDING)  # not a verdict on the audio (no_speech is one, and filtered is a choice)


class Emptier(Exception):
    """The new outputs would hold less text than those they replace; the message says why and what to do."""


def texts_in_calls(path: str | Path) -> set[str]:
    """The calls with text in a calls.jsonl (none when there is no file)."""
    try:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return set()
    return {r["id"] for r in rows if isinstance(r, dict) and r.get("text")}


def texts_in_index(db: str | Path) -> set[str]:
    """The calls with segments in a calls.db (none when there is no index, or it cannot be read)."""
    if not Path(db).is_file():
        return set()
    try:
        with sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True) as con:
            return {r[0] for r in con.execute("SELECT id FROM calls WHERE n IN (SELECT DISTINCT call FROM segments)")}
    except sqlite3.DatabaseError:
        return set()


def lost(had_text: set[str], rows: list[dict]) -> list[dict]:
    """The rows of calls that had text and would now have none for a failure, not a choice."""
    return [r for r in rows if r["id"] in had_text and not r.get("text") and r.get("status") in LOSSES]


def check(had_text: set[str], rows: list[dict], stage: str, outputs: str) -> None:
    """Emptier when `rows` would lose the text of a call that has it in `outputs`, unless OVERRIDE is set."""
    gone = lost(had_text, rows)
    if not gone or os.environ.get(OVERRIDE) == "1":
        return
    why = Counter(f"{r['status']}: {(r.get('reason') or '')[:100]}".rstrip(": ") for r in gone)
    reasons = "; ".join(f"{n} x {reason}" for reason, n in why.most_common(2)) + (" ..." if len(why) > 2 else "")
    raise Emptier(f"{stage}: {len(gone)} of the {len(had_text)} calls with text in {outputs} would lose it ({reasons}); "
                  f"nothing was replaced. Fix the cause and `dvc repro` again (it redoes only those calls), "
                  f"or replace them anyway with `{OVERRIDE}=1 dvc repro`.")
