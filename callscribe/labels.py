"""The owner's labels: one line per reviewed excerpt in labels/labels.jsonl.

The format is samples/labels.jsonl's (`file`, `archive`, `text`) with the excerpt's audio added:
`sha256`, `start`, `end` (seconds), and `turns`, the reviewed lines ({start, end, speaker, text}).
A label names the audio, not a transcript version, so a new transcription is scored against it as is.
It also keeps the excerpt's draw (`excerpt`, `p`, `queue`, `length`, `month`) for the weighted WER.
Every save rewrites the file atomically (callscribe.fileio.atomic_write): a kill leaves the last one.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from callscribe.fileio import read_jsonl, write_jsonl

DRAW_FIELDS = ("excerpt", "call", "p", "queue", "length", "month", "draw", "confidence")
MAX_LINES, MAX_TEXT, MAX_SPEAKER = 200, 2000, 40
_lock = threading.Lock()  # one writer at a time in this process: the file is read, changed and replaced


class LabelError(ValueError):
    """A label that cannot be saved; the message says why."""


def read(path: str | Path) -> list[dict]:
    return read_jsonl(path) if Path(path).is_file() else []


def by_excerpt(path: str | Path) -> dict[str, dict]:
    return {lab["excerpt"]: lab for lab in read(path) if lab.get("excerpt")}


def clean_lines(lines, start: float, end: float) -> list[dict]:
    """The reviewed lines, checked: times inside the excerpt, short text, a plain speaker name."""
    if not isinstance(lines, list) or len(lines) > MAX_LINES:
        raise LabelError(f"lines: a list of at most {MAX_LINES}")
    out = []
    for i, line in enumerate(lines):
        try:
            a, b = float(line["start"]), float(line["end"])
            text, speaker = str(line.get("text") or ""), str(line.get("speaker") or "")
        except (KeyError, TypeError, ValueError) as e:
            raise LabelError(f"line {i}: needs start, end (seconds), text and speaker") from e
        if not (start - 1.0 <= a <= b <= end + 1.0):
            raise LabelError(f"line {i}: {a:.2f}-{b:.2f} s is not inside the excerpt {start:.2f}-{end:.2f} s")
        if len(text) > MAX_TEXT or len(speaker) > MAX_SPEAKER or not all(ch.isalnum() or ch in "_- " for ch in speaker):
            raise LabelError(f"line {i}: text up to {MAX_TEXT} characters, speaker up to {MAX_SPEAKER} letters or digits")
        out.append({"start": round(a, 3), "end": round(b, 3), "speaker": speaker.strip() or None, "text": " ".join(text.split())})
    return sorted(out, key=lambda t: t["start"])


def mask(turns: list[dict], settings) -> list[dict]:
    """What the reviewer typed, masked as the transcripts are (a card number typed in becomes [CARD]):
    labels are pushed like transcripts, so they must not hold what those may not."""
    if settings is None or not settings.enabled or not turns:
        return turns
    from callscribe.records import Segment, Transcript
    from callscribe.redact import redact

    t = Transcript(" ".join(x["text"] for x in turns), "en", 0.0, [Segment(x["start"], x["end"], x["text"]) for x in turns])
    masked = redact(t, settings).transcript
    return [{**x, "text": s.text} for x, s in zip(turns, masked.segments)]


def save(path: str | Path, excerpt: dict, lines, verified: bool, settings=None) -> dict:
    """Write the label of one queued `excerpt` (a queue row) with the reviewed `lines`; returns it."""
    turns = mask(clean_lines(lines, excerpt["start"], excerpt["end"]), settings)
    label = {"file": excerpt["file"], "archive": excerpt["archive"], "text": " ".join(t["text"] for t in turns if t["text"]),
             "sha256": excerpt["sha256"], "start": excerpt["start"], "end": excerpt["end"], "turns": turns,
             "verified": bool(verified), "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             **{k: excerpt.get("id" if k == "excerpt" else k) for k in DRAW_FIELDS}}
    with _lock:
        rows = [lab for lab in read(path) if lab.get("excerpt") != label["excerpt"]]
        write_jsonl(path, [*rows, label])
    return label
