"""Writers for transcripts: JSON (Whisper's layout), TXT, SRT, VTT, RTTM; every write is atomic."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from callscribe.fileio import atomic_write
from callscribe.records import Transcript

FORMATS = ("json", "txt", "srt", "vtt", "rttm")


class MergeParams(BaseModel):
    """`merge:` in params.yaml: the per-call files written to data/output/transcripts."""

    formats: Annotated[list[Literal[FORMATS]], Field(min_length=1, description=f"a list of formats from {', '.join(FORMATS)}")] = \
        ["json", "txt", "srt", "vtt"]


def check_formats(formats) -> list[str]:
    """The formats asked for, or ValueError naming the unknown ones: checked before any work is done."""
    formats = [f.strip().lower() for f in formats if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown output format {', '.join(map(repr, unknown)) or '(none given)'}: choose from {', '.join(FORMATS)}")
    return formats


class OutputError(Exception):
    """The output folder cannot be written (read-only, full, gone); the message says what to do."""


def output_error(folder: str | Path, e: OSError) -> OutputError:
    return OutputError(
        f"cannot write to {folder}: {e.strerror or e}. Free some space or make the folder writable "
        "(or choose another output folder), then run again: every file already finished is kept."
    )


def check_writable(folder: str | Path) -> None:
    """Fail before any work is done when `folder` cannot take a file."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise output_error(folder, e) from e


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _label(seg) -> str:
    return f"[{seg.speaker}] " if seg.speaker else ""


def to_txt(t: Transcript) -> str:
    """One line per turn, `[HH:MM:SS] [speaker] text`: consecutive segments of one speaker are one
    line; without speakers, each segment is a line."""
    lines: list[list] = []  # [start, speaker, texts]
    for s in t.segments:
        if not s.text:
            continue
        if lines and s.speaker and lines[-1][1] == s.speaker:
            lines[-1][2].append(s.text)
        else:
            lines.append([s.start, s.speaker, [s.text]])
    return "".join(f"[{_clock(start, '.')[:8]}] {f'[{who}] ' if who else ''}{' '.join(texts)}\n" for start, who, texts in lines)


def to_srt(t: Transcript) -> str:
    blocks = [
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_label(s)}{s.text}\n"
        for i, s in enumerate(t.segments, 1)
    ]
    return "\n".join(blocks)


def to_vtt(t: Transcript) -> str:
    blocks = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{_label(s)}{s.text}\n" for s in t.segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_json(t: Transcript) -> str:
    return json.dumps(t.to_dict(), ensure_ascii=False, indent=1)


def to_rttm(t: Transcript, uri: str) -> str:
    """Who spoke when: a mono call's speaker turns where it has them, else its speaker segments (channels)."""
    spans = t.turns if t.turns is not None else [(s.start, s.end, s.speaker) for s in t.segments if s.speaker]
    return "".join(f"SPEAKER {uri} 1 {a:.3f} {b - a:.3f} <NA> <NA> {who} <NA> <NA>\n" for a, b, who in spans)


WRITERS = {"json": to_json, "txt": to_txt, "srt": to_srt, "vtt": to_vtt}


def write_transcript(t: Transcript, stem: str | Path, formats=FORMATS) -> list[Path]:
    """Write `stem.<fmt>` for each format; returns the paths written. RTTM is written whenever
    the transcript has speakers (and, empty, when asked for without them)."""
    written = []
    for fmt in check_formats(formats):
        if fmt == "rttm":
            continue
        path = Path(f"{stem}.{fmt}")
        atomic_write(path, WRITERS[fmt](t))
        written.append(path)
    if "rttm" in formats or any(s.speaker for s in t.segments):
        path = Path(f"{stem}.rttm")
        atomic_write(path, to_rttm(t, Path(stem).name))
        written.append(path)
    return written
