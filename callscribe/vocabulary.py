"""The company's own words: names, products and places the model should expect.

`transcribe.vocabulary` in params.yaml is a list of terms or the path of a text file with one term
per line (# starts a comment). A call is first decoded without them; a segment whose text nearly
holds a term ("at me insurance" for "Alliance Insurance") is decoded again with those terms as a
hint (faster-whisper's `hotwords`, Qwen3-ASR's `context`: callscribe.relisten), and the new text is
kept only if the term is now in it. A hint on every window made the model write the terms into speech that held
none of them (docs/PERFORMANCE.md): proposed by the text, confirmed by the audio, the rest is left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

from rapidfuzz import fuzz  # already here through jiwer: fast edit-distance similarity
from rapidfuzz.distance import LCSseq

# Measured with bench/vocabulary.py (docs/PERFORMANCE.md): at 65, 22 % of the segments without any term were
# heard twice (each a 30 s window of decoding) for a few more terms; hinting more terms than the near ones let
# them leak into the rest of the segment.
NEAR = 70  # letters' similarity (0-100) from which a run of words may be a misheard term
KEEP = 0.5  # share of the first text's words the second must keep: else the hint wrote itself ("Longman, Maintz.")
SHORTEST = 5  # letters: a shorter term is near too many common words ("um" is 80 % "Ulm")


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


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).replace("'", "").split()


def holds(text: str, term: str) -> bool:
    """Whether the text says the term, whole words, case and punctuation aside."""
    return f" {' '.join(_words(term))} " in f" {' '.join(_words(text))} "


def similarity(text: str, term: str) -> float:
    """How close the text comes to saying the term: the best letters' similarity of a run of its
    words (the term's word count, one fewer or one more) to the term, spaces ignored."""
    words, key = _words(text), "".join(_words(term))
    n = len(_words(term))
    runs = ("".join(words[i : i + k]) for k in range(max(1, n - 1), n + 2) for i in range(len(words) - k + 1))
    return max((fuzz.ratio(run, key) for run in runs), default=0.0)


def near_terms(text: str, found: list[str]) -> list[str]:
    """The terms the text nearly says but not quite: worth a second listen."""
    return [t for t in found if len("".join(_words(t))) >= SHORTEST and not holds(text, t) and similarity(text, t) >= NEAR]


def confirms(first: str, second: str, hinted: list[str], found: list[str]) -> bool:
    """Whether a second listen with a hint is better: a hinted term now said, no term said before
    lost, most of the first text's words still there, and not many more (a hint can start a loop)."""
    before, after = _words(first), _words(second)
    kept = LCSseq.similarity(before, after) / max(len(before), 1)
    return (any(holds(second, t) for t in hinted) and all(holds(second, t) for t in found if holds(first, t))
            and kept >= KEEP and len(after) <= 1.5 * len(before) + 3)
