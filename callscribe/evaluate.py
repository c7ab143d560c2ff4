"""WER and CER against reference transcripts, with Whisper's English text normaliser and jiwer."""

from __future__ import annotations

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

_normalizer = EnglishTextNormalizer()


def normalize(text: str) -> str:
    return " ".join(_normalizer(text or "").split())


def score(pairs: list[tuple[str, str, str]]) -> tuple[dict, list[dict]]:
    """pairs: (id, reference, hypothesis). Returns corpus-level metrics and per-file details.

    Corpus WER counts every word of every file once (not a mean of per-file rates)."""
    refs, hyps, details = [], [], []
    for key, ref, hyp in pairs:
        r, h = normalize(ref), normalize(hyp)
        if not r:  # files expected to be silent: any words are insertions
            details.append({"id": key, "reference": ref, "hypothesis": hyp, "ref_words": 0, "inserted_words": len(h.split())})
            continue
        out = jiwer.process_words(r, h)
        details.append({
            "id": key, "wer": round(out.wer, 4), "cer": round(jiwer.cer(r, h), 4), "ref_words": len(r.split()),
            "substitutions": out.substitutions, "deletions": out.deletions, "insertions": out.insertions,
            "reference": ref, "hypothesis": hyp,
        })
        refs.append(r)
        hyps.append(h)
    metrics = {"files": len(details), "scored_files": len(refs)}
    if refs:
        words = jiwer.process_words(refs, hyps)
        metrics.update(
            wer=round(words.wer, 4), cer=round(jiwer.cer(refs, hyps), 4), ref_words=sum(len(r.split()) for r in refs),
            substitutions=words.substitutions, deletions=words.deletions, insertions=words.insertions,
        )
    metrics["silent_files_with_words"] = sum(1 for d in details if d.get("inserted_words"))
    return metrics, details
