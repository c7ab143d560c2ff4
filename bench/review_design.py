"""Excerpts or whole calls: which gives the tighter archive-wide WER for the same minutes of listening?

A bootstrap over the labelled clips of bench/confidence.py (real speech, real decoder errors): an
archive of two-party calls shaped like the owner's (a tail of short calls, most 1-15 min, a few long
ones), each call built from two speakers' own clips drawn with replacement, so a call keeps the
difficulty of its speakers. Then, many times over, a listening budget is spent either on whole calls
(drawn at random) or on 45 s excerpts (a window of a call drawn by length), and the spread of the WER
estimate is measured. Prints the 95 % interval width per budget and writes bench/results/review_design.json.

    python bench/confidence.py && python bench/review_design.py
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXCERPT_S = 45.0
ORIENT_S = 10.0  # per item: finding one's way into a new call or excerpt, on top of its length


def archive(clips: list[dict], calls: int, rng: random.Random) -> list[list[dict]]:
    """Calls as lists of clips: two speakers of one set each, lengths shaped like a contact centre's."""
    by_speaker: dict[tuple, list[dict]] = {}
    for c in clips:
        if c["ref_words"] and c["set"] != "fsdd_digits_8k":  # isolated digits are not conversation
            by_speaker.setdefault((c["set"], c["speaker"]), []).append(c)
    sets: dict[str, list[tuple]] = {}
    for key in by_speaker:
        sets.setdefault(key[0], []).append(key)
    out = []
    for _ in range(calls):
        pool = sets[rng.choice([s for s in sets if len(sets[s]) >= 2])]
        pair = rng.sample(pool, 2)
        r = rng.random()
        seconds = rng.uniform(10, 60) if r < 0.2 else rng.uniform(900, 2400) if r > 0.95 else min(900, rng.lognormvariate(5.6, 0.6))
        call, t = [], 0.0
        while t < seconds:
            clip = rng.choice(by_speaker[pair[len(call) % 2]])
            call.append(clip)
            t += clip["duration"]
        out.append(call)
    return out


def estimate(items: list[list[dict]]) -> float:
    errors = sum(c["errors"] for item in items for c in item)
    words = sum(c["ref_words"] for item in items for c in item)
    return errors / words if words else float("nan")


def excerpt(call: list[dict], rng: random.Random) -> list[dict]:
    """About EXCERPT_S of consecutive clips from a random place in the call."""
    start = rng.randrange(len(call))
    out, t = [], 0.0
    for clip in call[start:] + call[:start]:
        out.append(clip)
        t += clip["duration"]
        if t >= EXCERPT_S:
            break
    return out


def spend(calls: list[list[dict]], budget_s: float, kind: str, rng: random.Random) -> float:
    lengths = [sum(c["duration"] for c in call) for call in calls]
    items, used = [], 0.0
    while used < budget_s:
        if kind == "whole":
            item = calls[rng.randrange(len(calls))]
        else:  # a call by its length, then one of its windows: every window equally likely
            item = excerpt(rng.choices(calls, weights=lengths)[0], rng)
        items.append(item)
        used += sum(c["duration"] for c in item) + ORIENT_S
    return estimate(items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=str(REPO / "bench/results/confidence.json"))
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=1000)
    ap.add_argument("--out", default=str(REPO / "bench/results/review_design.json"))
    args = ap.parse_args()
    rng = random.Random(0)
    calls = archive(json.loads(Path(args.clips).read_text())["clips"], args.calls, rng)
    true = estimate(calls)
    minutes = [sum(c["duration"] for c in call) / 60 for call in calls]
    print(f"archive: {len(calls)} calls, median {np.median(minutes):.1f} min, {sum(minutes) / 60:.1f} h, WER {true:.2%}")
    rows = []
    print(f"{'listening':>10} {'design':>9} {'95% width':>10} {'rmse':>7}")
    for budget in (20, 40, 80):
        for kind in ("whole", "excerpts"):
            got = np.array([spend(calls, budget * 60, kind, rng) for _ in range(args.repeats)])
            lo, hi = np.nanpercentile(got, [2.5, 97.5])
            rmse = float(np.sqrt(np.nanmean((got - true) ** 2)))
            rows.append({"minutes": budget, "design": kind, "width": round(float(hi - lo), 4), "rmse": round(rmse, 4)})
            print(f"{budget:>7} min {kind:>9} {hi - lo:>10.2%} {rmse:>7.2%}")
    Path(args.out).write_text(json.dumps({"true_wer": round(true, 4), "calls": len(calls), "excerpt_s": EXCERPT_S,
                                          "orient_s": ORIENT_S, "repeats": args.repeats, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
