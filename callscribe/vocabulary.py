"""The company's own words: names, products and places the model should expect.

`transcribe.vocabulary` in params.yaml is a list of terms or the path of a text file with one term
per line (# starts a comment). faster-whisper gets them as `hotwords` (a hint it puts before every
30 s window, unlike `initial_prompt`, which reaches only the first); Qwen3-ASR as its `context`.
"""

from __future__ import annotations

from pathlib import Path


def terms(value: list[str] | str | None) -> list[str]:
    """The terms a `transcribe.vocabulary` value names: the list itself, or the file's lines."""
    if not value:
        return []
    if isinstance(value, str):
        path = Path(value)
        if not path.is_file():
            raise ValueError(f"transcribe.vocabulary: {value} is not a file; "
                             "give a list of terms or the path of a text file, one term a line")
        lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
        return [t for t in lines if t]
    if not all(isinstance(t, str) for t in value):
        raise ValueError(f"transcribe.vocabulary holds {value!r}: give a list of terms (strings) or a file path")
    return [t.strip() for t in value if t.strip()]


def hint(value: list[str] | str | None) -> str | None:
    """The terms as one hint string for the decoder, or None when there are none."""
    found = terms(value)
    return ", ".join(found) + "." if found else None
