"""How right the speakers on a transcript's words are: WDER, mid-sentence changes, roles.

- WDER (word-level diarization error rate): the share of words whose speaker is not the reference
  speaker at the word's time (the one holding most of the word's span), after the one-to-one mapping
  of hypothesis to reference speakers that makes the fewest errors (Hungarian, scipy). Words with no
  reference speech under them are not scored (counted apart).
- Mid-sentence changes: the share of speaker changes between consecutive words where the word before
  does not end a sentence and the next follows within 0.3 s.
- Role: whether the speaker named (or guessed) agent is the reference's agent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from callscribe.records import Transcript, Word

# A word that ends a sentence; speaker_words moves changes to these (this module is its owner so that
# evaluate does not depend on the diarizer).
SENTENCE_END = re.compile(r"[.?!]['\")\]]*\s*$")

MID_SENTENCE_GAP = 0.3  # s: the next word follows within this, so no pause separates the two


def reference_speakers(reference, words: list[Word]) -> list[str | None]:
    """The reference speaker holding most of each word's span (a pyannote Annotation); None where
    the reference has no speech under the word."""
    turns = sorted((seg.start, seg.end, label) for seg, _, label in reference.itertracks(yield_label=True))
    starts = np.array([t[0] for t in turns])
    out: list[str | None] = []
    for w in words:
        held: dict[str, float] = {}
        for s, e, label in turns[: int(np.searchsorted(starts, w.end))]:
            overlap = min(w.end, e) - max(w.start, s)
            if overlap > 0:
                held[label] = held.get(label, 0.0) + overlap
        out.append(max(held, key=held.get) if held else None)
    return out


def best_mapping(ref: list[str], hyp: list[str]) -> dict[str, str]:
    """Hypothesis speaker -> reference speaker, one to one, agreeing on the most words."""
    from scipy.optimize import linear_sum_assignment

    r_names, h_names = sorted(set(ref)), sorted(set(hyp))
    counts = np.zeros((len(h_names), len(r_names)))
    for r, h in zip(ref, hyp):
        counts[h_names.index(h), r_names.index(r)] += 1
    rows, cols = linear_sum_assignment(-counts)
    return {h_names[i]: r_names[j] for i, j in zip(rows, cols)}


def wder(reference, words: list[Word]) -> dict:
    """WDER of words carrying `speaker`, against a reference Annotation."""
    ref = reference_speakers(reference, words)
    pairs = [(r, w.speaker or "") for r, w in zip(ref, words) if r is not None]
    if not pairs:
        return {"words": 0, "unscored": len(words), "wrong": 0, "wder": 0.0, "mapping": {}}
    mapping = best_mapping([r for r, _ in pairs], [h for _, h in pairs])
    wrong = sum(mapping.get(h) != r for r, h in pairs)
    return {"words": len(pairs), "unscored": len(words) - len(pairs), "wrong": wrong, "wder": round(wrong / len(pairs), 4),
            "mapping": mapping}


def speaker_changes(words: list[Word]) -> dict:
    """Speaker changes between consecutive words, and how many fall inside a sentence."""
    changes = mid = 0
    for a, b in zip(words, words[1:]):
        if a.speaker != b.speaker:
            changes += 1
            mid += not SENTENCE_END.search(a.word) and b.start - a.end < MID_SENTENCE_GAP
    return {"changes": changes, "mid_sentence": mid, "mid_sentence_share": round(mid / changes, 4) if changes else 0.0}


def role_outcome(roles: dict | None, mapping: dict[str, str], named: bool) -> str:
    """'right' or 'wrong' when the call's parties were named agent/caller, 'generic' when the labels
    stayed (with the guess right or wrong: 'generic, guess right'; 'generic, no evidence' when no
    phrase leaned either way), 'none' when the call has not two speakers.
    `mapping`: hypothesis label -> reference role, from `wder`."""
    if not roles:
        return "none"
    if roles["confidence"] <= 0.5:
        return "generic, no evidence"
    right = mapping.get(roles["agent"]) == "agent" or (mapping.get(roles["caller"]) == "caller" and roles["agent"] not in mapping)
    return ("right" if right else "wrong") if named else f"generic, guess {'right' if right else 'wrong'}"


def word_figures(reference, transcript_json) -> dict:
    """WDER and mid-sentence changes of a written transcript (its JSON) against reference turns."""
    transcript = Transcript.from_dict(json.loads(Path(transcript_json).read_text(encoding="utf-8")))
    words = [w for s in transcript.segments for w in (s.words or [])]
    for s in transcript.segments:
        for w in s.words or []:
            w.speaker = w.speaker or s.speaker
    found = wder(reference, words)
    changes = speaker_changes(words)
    return {"wder": found["wder"], "words": found["words"], "mid_sentence_share": changes["mid_sentence_share"],
            "speaker_changes": changes["changes"]}
