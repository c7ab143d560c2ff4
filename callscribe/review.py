"""What to review: excerpts of 30-60 s, cut at pauses, drawn over the whole transcribed archive.

Every transcribed call is cut into consecutive windows that cover it end to end (`windows`). Calls are
drawn by systematic sampling with probability proportional to size over a frame sorted by month,
queue and call length (implicit stratification: each stratum gets its share), the size being the
call's window count times a boost for low confidence (callscribe.confidence). One window of each
drawn call, chosen uniformly, is its excerpt. So every excerpt's inclusion probability `p` is known
exactly, and evaluate undoes the weighting (Hajek: each label counts 1/p) for an archive-wide WER.
The queue is written in random order: any first k of it is still a fair sample.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from callscribe.fileio import read_jsonl, write_jsonl
from callscribe.records import TRANSCRIBED

MIN_S, MAX_S = 30.0, 60.0  # an excerpt's length: long enough to follow, short enough to replay
EMPTY_S = 45.0  # windows of a call with no words (no_speech): no pauses to cut at
BOOST = 3.0  # a call the model was wholly unsure of is drawn 1 + BOOST times as often as a sure one of the same length
LENGTHS = ((60.0, "<1 min"), (300.0, "1-5 min"), (900.0, "5-15 min"), (math.inf, ">15 min"))


class ReviewParams(BaseModel):
    """`review:` in params.yaml: the draw the stage review makes (0: none; `callscribe review` draws by hand)."""

    sample: Annotated[int, Field(ge=0, description="a whole number of excerpts to draw, 0 or more")] = 0
    seed: int = 1


class ReviewError(Exception):
    """The sample cannot be drawn or written; the message says what to do."""


def length_class(seconds: float) -> str:
    return next(name for top, name in LENGTHS if seconds < top)


def words_of(transcript: dict | None) -> list[tuple[float, float]]:
    """(start, end) of every word, both channels together, in time order."""
    spans = [(w["start"], w["end"]) for s in (transcript or {}).get("segments") or [] for w in s.get("words") or []]
    return sorted(spans)


def windows(duration: float, words: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Consecutive (start, end) windows covering [0, duration]; each ends in the middle of the widest
    pause that leaves it MIN_S to MAX_S long (at MAX_S when there is none). Only the last may be shorter."""
    if duration <= MAX_S:
        return [(0.0, round(duration, 3))]
    pauses, reach = [], 0.0  # (pause start, pause end) where no word of either channel sounds
    for start, end in words:
        if start > reach:
            pauses.append((reach, start))
        reach = max(reach, end)
    out, at = [], 0.0
    while duration - at > MAX_S:
        fits = [(b - a, (a + b) / 2) for a, b in pauses if at + MIN_S <= (a + b) / 2 <= at + MAX_S]
        cut = round(max(fits)[1] if fits else at + MAX_S, 3)
        out.append((at, cut))
        at = cut
    out.append((at, round(duration, 3)))
    return out


def frame(calls: list[dict], transcripts: Path) -> list[dict]:
    """The calls a sample is drawn from: every transcribed call, with its windows and draw weight."""
    out = []
    for c in calls:
        if c.get("status") not in TRANSCRIBED or not c.get("duration") or not c.get("sha256"):
            continue
        path = Path(transcripts) / f"{c['id']}.json"
        transcript = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        words = words_of(transcript)
        cuts = windows(c["duration"], words) if words else _even(c["duration"])
        out.append({"call": c, "windows": cuts, "weight": len(cuts) * (1.0 + BOOST * unsure(c)),
                    "stratum": (month(c), c.get("queue") or "", length_class(c["duration"]))})
    return out


def unsure(call: dict) -> float:
    """0 (sure) to 1: one minus the call's confidence, more where a piece had to be decoded again;
    1 for a call with no words (no_speech: speech may have been lost there)."""
    conf = call.get("confidence")
    retried = bool((call.get("decoder") or {}).get("retries"))
    return 1.0 if conf is None else min(1.0, 1.0 - conf + 0.25 * retried)


def _even(duration: float) -> list[tuple[float, float]]:
    n = max(1, round(duration / EMPTY_S))
    return [(round(duration * i / n, 3), round(duration * (i + 1) / n, 3)) for i in range(n)]


def month(call: dict) -> str:
    return (call.get("date") or "")[:7] or "undated"


def inclusion(weights: list[float], n: int) -> list[float]:
    """Probabilities proportional to `weights` summing to n, each at most 1 (the largest taken for sure)."""
    p = [0.0] * len(weights)
    free, left = set(range(len(weights))), n
    while free and left > 0:
        total = sum(weights[i] for i in free)
        sure = {i for i in free if left * weights[i] / total >= 1.0}
        if not sure:
            for i in free:
                p[i] = left * weights[i] / total
            break
        for i in sure:
            p[i] = 1.0
        free -= sure
        left -= len(sure)
    return p


def draw(calls: list[dict], transcripts: Path, n: int, seed: int) -> list[dict]:
    """n excerpts (fewer when the archive has fewer calls), each with its inclusion probability `p`."""
    if n < 1:
        raise ReviewError(f"review.sample is {n}: give the number of excerpts to draw, e.g. 50")
    units = frame(calls, transcripts)
    if not units:
        raise ReviewError("no transcribed calls in data/output/calls.jsonl: run `dvc repro` first")
    rng = random.Random(seed)
    for u in units:
        u["key"] = rng.random()
    units.sort(key=lambda u: (*u["stratum"], u["key"]))  # strata side by side: each gets its share of the draws
    probs = inclusion([u["weight"] for u in units], min(n, len(units)))
    picked, cum, u0 = [], 0.0, rng.random()
    for unit, p in zip(units, probs):
        if math.floor(cum + p - u0) > math.floor(cum - u0):  # systematic: a point u0 + k falls in this unit's span
            start, end = rng.choice(unit["windows"])
            c = unit["call"]
            picked.append({"id": f"{c['sha256'][:16]}@{start:.2f}", "call": c["id"], "archive": c.get("archive"),
                           "file": c.get("name"), "sha256": c["sha256"], "start": start, "end": end,
                           "queue": c.get("queue"), "month": month(c), "length": length_class(c["duration"]),
                           "confidence": c.get("confidence"), "p": round(p / len(unit["windows"]), 8), "draw": seed})
        cum += p
    rng.shuffle(picked)
    return picked


def write_queue(path: Path, excerpts: list[dict], replace: bool = False) -> None:
    """The queue file; an existing one is kept unless `replace` (its labels stay in labels.jsonl either way)."""
    if read_queue(path) and not replace:
        raise ReviewError(f"{path} exists: review it, or draw a new one with --replace (labels already made are kept)")
    write_jsonl(path, excerpts)


def read_queue(path: Path) -> list[dict]:
    return read_jsonl(path) if Path(path).is_file() else []


def sample(n: int, seed: int, queue: Path, calls_jsonl: Path, replace: bool = False) -> list[dict]:
    """Draw n excerpts from the archive in `calls_jsonl` (transcripts beside it) into `queue`; an
    existing queue of the same draw (n, seed) is kept as it is, so re-running changes nothing."""
    queue, calls_jsonl = Path(queue), Path(calls_jsonl)
    old = read_queue(queue)
    if old and all(e.get("draw") == seed and e.get("sample") == n for e in old):
        return old
    if not calls_jsonl.is_file():
        raise ReviewError(f"{calls_jsonl}: not found; run `dvc repro` first (the merge stage writes it)")
    excerpts = [{**e, "sample": n} for e in draw(read_jsonl(calls_jsonl), calls_jsonl.parent / "transcripts", n, seed)]
    write_queue(queue, excerpts, replace=replace)
    return excerpts


def add_parser(sub) -> None:
    p = sub.add_parser("review", help="draw excerpts to label (then label them in `callscribe serve`, page /review)",
                       description="Draws N excerpts of 30-60 s over months, queues and call lengths, leaning toward "
                                   "low-confidence calls, into a review queue; evaluate weights them back (docs/guide/review.md).")
    p.add_argument("--sample", type=int, required=True, metavar="N", help="excerpts to draw, e.g. 50 (about 40 minutes of listening)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the draw (default 1)")
    p.add_argument("--data", default="data", help="the project's data folder (default data)")
    p.add_argument("--queue", default="labels/queue.jsonl", help="the review queue written (default labels/queue.jsonl)")
    p.add_argument("--replace", action="store_true", help="draw again over an existing queue (labels already made are kept)")
    p.set_defaults(run=run)


def run(args) -> int:
    import sys

    try:
        excerpts = sample(args.sample, args.seed, Path(args.queue), Path(args.data) / "output" / "calls.jsonl", args.replace)
    except ReviewError as e:
        print(f"callscribe review: {e}", file=sys.stderr)
        return 2
    minutes = sum(e["end"] - e["start"] for e in excerpts) / 60
    calls = len({e["sha256"] for e in excerpts})
    print(f"callscribe review: {len(excerpts)} excerpts from {calls} calls, {minutes:.1f} min of audio in {args.queue}; "
          "label them at http://127.0.0.1:8484/review (`callscribe serve`)", file=sys.stderr)
    return 0
