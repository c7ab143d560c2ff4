"""The owner's labels scored: WER, CER and word-level speaker error on excerpts, weighted back to the
whole archive, with 95 % bootstrap intervals and per-queue and per-length breakdowns.

An excerpt's hypothesis is every word of the call's current transcript whose midpoint lies inside
[start, end): excerpts are cut in the middle of pauses, so a word rarely straddles an edge, and when
one does it counts on the side that holds most of it, never on both or neither. Masked spans
([CARD], ...) are one word on both sides, so a mask the reviewer kept counts as a match.
Each excerpt counts 1/p (its inclusion probability, callscribe.review): a Hajek ratio estimate of the
archive's WER, however hard the draw leaned toward low-confidence calls.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jiwer
import numpy as np

from callscribe.evaluate import normalize
from callscribe.records import TRANSCRIBED
from callscribe.speaker_metrics import best_mapping

BOOTSTRAP = 2000
MASK = re.compile(r"\[([A-Z_]+)\]")


def mask_normalize(text: str) -> str:
    """`normalize`, with each mask kept as one word (Whisper's normaliser drops bracketed text)."""
    return normalize(MASK.sub(lambda m: f" mask{m.group(1).lower().replace('_', '')} ", text or ""))


def excerpt_words(transcript: dict, start: float, end: float) -> list[tuple[str, str | None]]:
    """(word, speaker) of the transcript inside [start, end) by word midpoint, in time order."""
    found = []
    for seg in transcript.get("segments") or []:
        words = seg.get("words")
        if words is None:  # no word times: the segment by its own midpoint
            words = [{"start": seg["start"], "end": seg["end"], "word": seg.get("text") or ""}]
        for w in words:
            mid = (w["start"] + w["end"]) / 2
            if start <= mid < end:
                found.append((mid, w["word"], w.get("speaker") or seg.get("speaker")))
    return [(word, spk) for _, word, spk in sorted(found, key=lambda x: x[0])]


def speaker_words(turns: list[dict], hyp: list[tuple[str, str | None]]) -> tuple[int, int] | None:
    """(words given to the wrong speaker, words compared): reference and hypothesis words aligned,
    speakers matched one to one for the most agreement (names may differ between transcriptions)."""
    ref = [(w, t["speaker"]) for t in turns if t.get("speaker") for w in mask_normalize(t["text"]).split()]
    hyp = [(w, s) for word, s in hyp if s for w in mask_normalize(word).split()]
    if not ref or not hyp:
        return None
    out = jiwer.process_words(" ".join(w for w, _ in ref), " ".join(w for w, _ in hyp))
    pairs = [(ref[chunk.ref_start_idx + k][1], hyp[chunk.hyp_start_idx + k][1])
             for chunk in out.alignments[0] if chunk.type in ("equal", "substitute")
             for k in range(chunk.ref_end_idx - chunk.ref_start_idx)]
    if not pairs:
        return None
    mapping = best_mapping([r for r, _ in pairs], [h for _, h in pairs])
    return sum(mapping.get(h) != r for r, h in pairs), len(pairs)


def score_excerpt(label: dict, transcript: dict) -> dict:
    hyp = excerpt_words(transcript, label["start"], label["end"])
    r, h = mask_normalize(label["text"]), mask_normalize(" ".join(w for w, _ in hyp))
    row = {"excerpt": label.get("excerpt"), "sha256": label["sha256"], "start": label["start"], "end": label["end"],
           "p": label.get("p") or 1.0, "queue": label.get("queue"), "length": label.get("length"),
           "ref_words": len(r.split()), "ref_chars": len(r), "reference": label["text"], "hypothesis": " ".join(h.split())}
    words = jiwer.process_words(r, h) if r else None  # an empty reference: every word is an insertion
    row.update(errors=(words.substitutions + words.deletions + words.insertions) if r else len(h.split()),
               deletions=words.deletions if r else 0, insertions=words.insertions if r else len(h.split()))
    chars = jiwer.process_characters(r, h) if r else None
    row["char_errors"] = (chars.substitutions + chars.deletions + chars.insertions) if r else len(h)
    spk = speaker_words(label.get("turns") or [], hyp)
    row["speaker_errors"], row["speaker_words"] = spk if spk else (0, 0)
    return row


def is_excerpt(label: dict) -> bool:
    """A label of a time range of a recording (labels/labels.jsonl), not of a whole file (samples/labels.jsonl)."""
    return "start" in label and "end" in label and bool(label.get("sha256"))


def pair_labels(labels: list[dict], calls: list[dict], transcripts: Path) -> tuple[list[dict], list[dict]]:
    """(scored excerpts, labels whose audio has no transcript here), matched by sha256."""
    by_hash = {}
    for c in calls:
        if c.get("status") in TRANSCRIBED and c.get("sha256"):
            by_hash.setdefault(c["sha256"], c)
    rows, missing = [], []
    for lab in labels:
        call = by_hash.get(lab.get("sha256"))
        path = Path(transcripts) / f"{call['id']}.json" if call else None
        if path is None or not path.is_file():
            missing.append(lab)
            continue
        rows.append(score_excerpt(lab, json.loads(path.read_text(encoding="utf-8"))))
    return rows, missing


def ratio(rows: list[dict], num: str, den: str, seed: int = 0) -> dict:
    """Weighted Σ num/p / Σ den/p, with a 95 % percentile bootstrap interval over excerpts."""
    w = np.array([1.0 / r["p"] for r in rows])
    a, b = np.array([r[num] for r in rows], float) * w, np.array([r[den] for r in rows], float) * w
    if not len(rows) or b.sum() == 0:
        return {"value": None, "lo": None, "hi": None}
    idx = np.random.default_rng(seed).integers(0, len(rows), (BOOTSTRAP, len(rows)))
    tops, bottoms = a[idx].sum(1), b[idx].sum(1)
    boot = tops[bottoms > 0] / bottoms[bottoms > 0]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"value": round(float(a.sum() / b.sum()), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4)}


def flat(name: str, r: dict | None) -> dict:
    """{name: value, name_lo: ..., name_hi: ...}: one line each in `dvc metrics diff`."""
    r = r or {"value": None, "lo": None, "hi": None}
    return {name: r["value"], f"{name}_lo": r["lo"], f"{name}_hi": r["hi"]}


def summarize(rows: list[dict]) -> dict:
    """The archive-wide estimates (95 % intervals in *_lo, *_hi), the plain WER of the labels, and the breakdowns."""
    spoken = [r for r in rows if r["speaker_words"]]
    out = {"excerpts": len(rows), "minutes": round(sum(r["end"] - r["start"] for r in rows) / 60, 2),
           **flat("wer", ratio(rows, "errors", "ref_words")), **flat("cer", ratio(rows, "char_errors", "ref_chars")),
           **flat("speaker_word_error", ratio(spoken, "speaker_errors", "speaker_words") if spoken else None),
           "wer_unweighted": round(sum(r["errors"] for r in rows) / max(1, sum(r["ref_words"] for r in rows)), 4) if rows else None,
           "ref_words": sum(r["ref_words"] for r in rows), "deletions": sum(r["deletions"] for r in rows),
           "insertions": sum(r["insertions"] for r in rows)}
    for key in ("queue", "length"):
        groups = sorted({str(r[key]) for r in rows})
        out[f"by_{key}"] = {g: {"excerpts": len(part), "ref_words": sum(r["ref_words"] for r in part),
                                **flat("wer", ratio(part, "errors", "ref_words"))}
                            for g in groups for part in [[r for r in rows if str(r[key]) == g]]}
    return out
