"""How sure the decoder was of a call, from what it already gives: no labels needed.

`signals` reads a per-call transcript JSON and its journal warnings; `confidence` folds them into one
figure in [0, 1]. It ranks calls for review ("least confident first") and measures the share of
audio the model was unsure of (metrics.json `low_conf`). How well it ranks calls by their real WER is
measured by bench/confidence.py (docs/guide/review.md).
"""

from __future__ import annotations

# Below this a call is "low confidence". On the tuning half of bench/confidence.py the calls under it
# (a quarter) had WER 83 %, those above 8 %.
LOW = 0.6
# A loop left after the retry: text known to be wrong, whatever its word probabilities say.
LOOP_PENALTY = 0.5


def signals(transcript: dict | None, warnings: list[str] | None = None) -> dict:
    """The decoder's own figures for one call: mean log-probability and no-speech probability
    (segments weighted by their words), mean word probability, pieces decoded again, loops left."""
    segs = [s for s in (transcript or {}).get("segments") or [] if (s.get("text") or "").strip()]
    warnings = warnings or []
    # "retried with safer decoding" (a piece), "transcribed on its own" (a packed call): decoded again;
    # ", still ...": the retry looped too.
    out = {"retries": sum("retried" in w or "on its own" in w for w in warnings), "loops": sum(", still " in w for w in warnings)}
    weights = [max(1, len(s.get("words") or s["text"].split())) for s in segs]
    logp = [(s["avg_logprob"], w) for s, w in zip(segs, weights) if s.get("avg_logprob") is not None]
    nosp = [(s["no_speech_prob"], w) for s, w in zip(segs, weights) if s.get("no_speech_prob") is not None]
    probs = [w["probability"] for s in segs for w in s.get("words") or [] if w.get("probability") is not None]
    out["mean_logprob"] = round(sum(v * w for v, w in logp) / sum(w for _, w in logp), 4) if logp else None
    out["no_speech_prob"] = round(sum(v * w for v, w in nosp) / sum(w for _, w in nosp), 4) if nosp else None
    out["word_prob"] = round(sum(probs) / len(probs), 4) if probs else None
    return out


def confidence(sig: dict) -> float | None:
    """The mean probability of the call's words, halved per loop left after a retry (at most twice);
    None for a call with no decoded words. Chosen on the tuning half of bench/confidence.py: word
    probabilities ranked calls by WER best (Spearman 0.71, against 0.62 for exp(mean log-probability)
    and 0.49 with the no-speech probability: packed short calls share one window's log-probability);
    halving for every retry, even one that fixed its loop, ranked worse (0.69)."""
    if sig.get("word_prob") is None:
        return None
    return round(sig["word_prob"] * LOOP_PENALTY ** min(2, sig.get("loops", 0)), 4)


def low_share(calls: list[dict]) -> float | None:
    """Share of the transcribed audio (seconds) in calls whose confidence is below LOW."""
    scored = [c for c in calls if c.get("confidence") is not None]
    total = sum(c.get("duration") or 0.0 for c in scored)
    if not total:
        return None
    return round(sum(c.get("duration") or 0.0 for c in scored if c["confidence"] < LOW) / total, 4)
