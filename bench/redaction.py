"""Recall and precision of redaction per kind: prints the table in docs/REDACTION.md.

    python bench/redaction.py [--set tests/data/redaction/transcripts.jsonl] [--half tune|check] [--json out.json]

On the labelled transcripts (bench/redaction_set.py): an entity (one kind in one call, all its
marked words, even when spread over several turns) is caught when every marked word lies in a span
found as that kind; a found span is correct when it overlaps words marked as its kind.
Look-alike calls have nothing marked: anything found there is a false positive.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from callscribe.records import Segment, Transcript, Word
from callscribe.redact import RedactSettings, find

SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "redaction" / "transcripts.jsonl"
MARK = re.compile(r"\[\[(\w+): (.*?)\]\]")


def read_call(call: dict) -> tuple[Transcript, dict[str, set[int]]]:
    """A labelled call as a transcript with word times (0.4 s a word), and the marked word indices per kind."""
    segments, marked, n, t = [], {}, 0, 0.0
    for speaker, text in call["turns"]:
        words = []
        pos = 0
        for m in list(MARK.finditer(text)) + [None]:
            plain = text[pos:m.start()] if m else text[pos:]
            parts = [(w, None) for w in plain.split()]
            if m:
                parts += [(w, m.group(1)) for w in m.group(2).split()]
                pos = m.end()
            for w, kind in parts:
                if words and w in ".,?!":  # "[[card: ...]]." : the full stop belongs to the last word
                    last = words[-1]
                    words[-1] = Word(last.start, last.end, last.word + w, last.probability, speaker)
                    continue
                words.append(Word(round(t, 2), round(t + 0.35, 2), " " + w, 0.9, speaker))
                if kind:
                    marked.setdefault(kind, set()).add(n)
                n += 1
                t += 0.4
        segments.append(Segment(words[0].start, words[-1].end, "".join(w.word for w in words), words, speaker))
    return Transcript(" ".join(s.text.strip() for s in segments), "en", t, segments), marked


def call_words(t: Transcript) -> list[str]:
    return [w.word for s in t.segments for w in s.words]


def score(calls: list[dict], settings: RedactSettings) -> dict:
    tp, fn, fp, leaks = Counter(), Counter(), Counter(), Counter()
    misses, false = [], []
    for call in calls:
        t, marked = read_call(call)
        words = call_words(t)
        found = find(words, settings)
        for kind, idx in marked.items():
            covered = {i for f in found if f.kind == kind for i in f.words}
            anything = {i for f in found for i in f.words}
            if idx <= covered:
                tp[kind] += 1
            else:
                fn[kind] += 1
                misses.append((call["id"], kind, " ".join(words[i].strip() for i in sorted(idx))))
            leaks[kind] += not idx <= anything
        for f in found:
            if not set(f.words) & marked.get(f.kind, set()):
                fp[f.kind] += 1
                false.append((call["id"], f.kind, " ".join(words[i].strip() for i in f.words)))
    by_kind = {}
    for k in settings.kinds:
        found_ok = tp[k]  # each caught entity is one correct span (spans are merged per entity)
        by_kind[k] = {
            "entities": tp[k] + fn[k], "caught": tp[k], "false_positives": fp[k], "left_unmasked": leaks[k],
            "recall": round(tp[k] / (tp[k] + fn[k]), 3) if tp[k] + fn[k] else None,
            "precision": round(found_ok / (found_ok + fp[k]), 3) if found_ok + fp[k] else None,
        }
    return {"calls": len(calls), "by_kind": by_kind, "misses": misses, "false_positives": false}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default=str(SET))
    ap.add_argument("--half", choices=["tune", "check"], help="only the calls of that half (misheard.jsonl: ids -tune- and -check-)")
    ap.add_argument("--json")
    args = ap.parse_args()
    calls = [json.loads(line) for line in Path(args.set).read_text().splitlines() if line.strip()]
    if args.half:
        calls = [c for c in calls if f"-{args.half}-" in c["id"]]
    result = score(calls, RedactSettings(enabled=True))
    print(f"{result['calls']} calls")
    print("| kind | entities | caught | recall | false positives | precision |\n|---|---|---|---|---|---|")
    for k, v in result["by_kind"].items():
        print(f"| {k} | {v['entities']} | {v['caught']} | {v['recall']} | {v['false_positives']} | {v['precision']} |")
    for m in result["misses"]:
        print("missed:", m)
    for f in result["false_positives"]:
        print("false positive:", f)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
